"""Where commands run and files live: one interface, a local and an SSH implementation.

Everything that touches the machine a step runs on -- pulling images, writing job bodies,
submitting, polling, reading run records, publishing -- goes through a :class:`Host`, so that it
works the same on a login node and from a laptop over SSH.  :func:`host_for` gives this
process's one host object per target: ``None`` is this machine, ``"[user@]host[:port]"`` (or an
alias of ``~/.ssh/config``) one SSH connection, shared by every backend and proxy.
"""

from __future__ import annotations

import threading
from typing import Optional

from ..errors import HostUnreachable
from .base import CommandResult, Host
from .local import LocalHost, local_host
from .ssh_target import SshTargetError

__all__ = [
    "CommandResult",
    "Host",
    "HostUnreachable",
    "LocalHost",
    "SshTargetError",
    "host_for",
    "local_host",
]

_ssh_hosts: dict[tuple[str, int, str], Host] = {}
_lock = threading.Lock()


def host_for(ssh: Optional[str] = None, accept_new_host_key: bool = False) -> Host:
    """This machine, or the (connected) SSH host of ``ssh``; one connection per target."""
    if not ssh:
        return local_host()
    from .ssh import SshHost
    from .ssh_target import resolve

    target = resolve(ssh)
    key = (target.hostname, target.port, target.user)
    with _lock:
        if key not in _ssh_hosts:
            _ssh_hosts[key] = SshHost(target, accept_new_host_key)
        return _ssh_hosts[key]
