"""Where ``--ssh [user@]host[:port]`` points: the target as typed, resolved with ``~/.ssh/config``.

The host part may be an alias of the user's OpenSSH config; its ``HostName``, ``User``,
``Port``, ``IdentityFile``, ``UserKnownHostsFile`` and ``ProxyJump`` are honoured, and what the
target string says explicitly wins over the config (as with ``ssh``).  Nothing here connects.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from typing import Optional

from ..errors import BadInput

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
_TARGET = re.compile(
    r"^(?:(?P<user>[^@\s:/]+)@)?(?:\[(?P<ipv6>[0-9a-fA-F:.]+)\]|(?P<host>[^@\s:/\[\]]+))"
    r"(?::(?P<port>\d{1,5}))?$"
)


class SshTargetError(BadInput):
    """An SSH target that cannot be used: malformed, refused host key, no accepted credential."""


@dataclass(frozen=True)
class SshTarget:
    """A resolved SSH target (``text`` is what the user typed; proxies store that)."""

    text: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    known_hosts_files: tuple[str, ...]
    proxy_jump: Optional[str]

    @property
    def label(self) -> str:
        """How messages name the target: ``user@host:port``."""
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def ssh_config_path() -> str:
    return os.path.expanduser("~/.ssh/config")


def resolve(text: str) -> SshTarget:
    """Parse ``[user@]host[:port]`` (``[::1]:2222`` for IPv6) and apply ``~/.ssh/config``."""
    import paramiko

    match = _TARGET.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise SshTargetError(
            f"SSH target '{text}' is not [user@]host[:port] (a host alias of ~/.ssh/config, "
            "a name or an address; [::1]:2222 for IPv6)"
        )
    name = match.group("ipv6") or match.group("host")
    config: dict = {}
    path = ssh_config_path()
    if os.path.exists(path):
        try:
            config = dict(paramiko.SSHConfig.from_path(path).lookup(name))
        except (OSError, paramiko.SSHException, ValueError) as error:
            raise SshTargetError(f"cannot read {path}: {error}") from None
    port_text = match.group("port") or config.get("port") or "22"
    port = int(port_text) if str(port_text).isdigit() else 0
    if not 0 < port < 65536:
        raise SshTargetError(f"SSH target '{text}': port {port_text} is not 1-65535")
    known = config.get("userknownhostsfile")
    known_files = tuple(known.split()) if known else DEFAULT_KNOWN_HOSTS
    proxy_jump = config.get("proxyjump")
    return SshTarget(
        text=text.strip(),
        hostname=str(config.get("hostname", name)) if not match.group("ipv6") else name,
        port=port,
        user=match.group("user") or config.get("user") or getpass.getuser(),
        identity_files=tuple(os.path.expanduser(p) for p in config.get("identityfile", [])),
        known_hosts_files=tuple(os.path.expanduser(p) for p in known_files),
        proxy_jump=None if (proxy_jump or "").lower() == "none" else proxy_jump,
    )
