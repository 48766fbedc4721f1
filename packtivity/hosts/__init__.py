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
from .ssh_target import SshTarget, SshTargetError

__all__ = [
    "CommandResult",
    "Host",
    "HostUnreachable",
    "LocalHost",
    "SshTarget",
    "SshTargetError",
    "TRANSPORTS",
    "host_for",
    "local_host",
]

#: how ``--ssh`` connects: paramiko (one connection per process, the default) or the user's
#: own ``ssh`` with a shared master connection (one login for every process)
TRANSPORTS = ("paramiko", "openssh")

_ssh_hosts: dict[tuple[str, int, str, str], Host] = {}
_lock = threading.Lock()


def host_for(
    ssh: Optional[str] = None, accept_new_host_key: bool = False, transport: str = "paramiko"
) -> Host:
    """This machine, or the (connected) SSH host of ``ssh`` through ``transport`` (one of
    :data:`TRANSPORTS`); one connection per target."""
    if not ssh:
        return local_host()
    from .ssh_target import resolve

    if transport not in TRANSPORTS:
        raise SshTargetError(f"unknown SSH transport '{transport}'; known: {', '.join(TRANSPORTS)}")
    target = resolve(ssh)
    key = (target.hostname, target.port, target.user, transport)
    with _lock:
        if key not in _ssh_hosts:
            _ssh_hosts[key] = _connect(target, accept_new_host_key, transport)
        return _ssh_hosts[key]


def _connect(target: SshTarget, accept_new_host_key: bool, transport: str) -> Host:
    if transport == "openssh":
        from .openssh import OpenSshHost

        return OpenSshHost(target, accept_new_host_key, target.control_path, target.control_persist)
    from .ssh import SshHost

    return SshHost(target, accept_new_host_key)
