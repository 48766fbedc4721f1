"""Where ``--ssh [user@]host[:port]`` points: the target as typed, resolved as OpenSSH would.

The user's OpenSSH configuration is the truth.  Where the ``ssh`` client is installed, the
effective settings of a target are ``ssh -G``'s answer: every ``Include``, ``Match`` (``host``,
``user``, ``exec``, ...) and ``Host`` pattern is applied by OpenSSH itself.  Without the client,
paramiko's parser reads ``~/.ssh/config`` (``Host`` and ``Match`` blocks), with its top-level
``Include`` files inserted here; an ``Include`` inside a block (conditional in OpenSSH) is an
error naming the line, never silently skipped.

What the target string says explicitly wins over the config (as with ``ssh``).  Nothing here
connects; how each setting is honoured is the transport's business (:mod:`.ssh_connect`,
:mod:`.openssh`).
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional, Sequence

from ..errors import BadInput

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
_TARGET = re.compile(
    r"^(?:(?P<user>[^@\s:/]+)@)?(?:\[(?P<ipv6>[0-9a-fA-F:.]+)\]|(?P<host>[^@\s:/\[\]]+))"
    r"(?::(?P<port>\d{1,5}))?$"
)
#: settings that change how ssh connects or authenticates, which the paramiko transport cannot
#: do, with the value that means "not used" (``ssh -G`` prints these, or nothing)
NOT_PARAMIKO = {
    "HostKeyAlias": "",
    "PKCS11Provider": "none",
    "SecurityKeyProvider": "internal",
    "BindAddress": "",
    "BindInterface": "",
    "ProxyUseFdpass": "no",
    "HostbasedAuthentication": "no",
}
#: seconds ``ssh -G`` may take (a ``Match exec`` runs a command of the user's)
RESOLVE_TIMEOUT = 30.0


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
    proxy_command: Optional[str] = None
    certificate_files: tuple[str, ...] = ()
    identities_only: bool = False
    #: ``yes``/``true``, ``accept-new``, ``ask``, ``no``/``false``/``off`` as OpenSSH spells them
    strict_host_key_checking: str = "ask"
    gssapi: bool = False  #: GSSAPIAuthentication (Kerberos)
    control_path: Optional[str] = None  #: the user's ControlPath (expanded), if any
    control_persist: Optional[str] = None  #: the user's ControlPersist, if set
    #: where the settings came from: ``ssh -G`` or paramiko's parser of ``~/.ssh/config``
    source: str = "ssh -G"
    #: settings the paramiko transport cannot honour, as ``Keyword value`` (see NOT_PARAMIKO)
    not_for_paramiko: tuple[str, ...] = ()
    control_master: bool = False  #: the config asks for a shared (ControlMaster) connection

    @property
    def label(self) -> str:
        """How messages name the target: ``user@host:port``."""
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @property
    def accepts_new_host_keys(self) -> bool:
        """``StrictHostKeyChecking accept-new`` (or ``no``, which OpenSSH reads the same for an
        unknown host): an unknown host's key is added; a changed one is refused all the same."""
        return self.strict_host_key_checking in ("accept-new", "no", "false", "off")


def ssh_config_path() -> str:
    return os.path.expanduser("~/.ssh/config")


def _system_home() -> Optional[str]:
    """The user's home directory of the system, when ``$HOME`` is another one (else None)."""
    import pwd

    try:
        system_home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None
    home = os.path.expanduser("~")
    return system_home if os.path.realpath(home) != os.path.realpath(system_home) else None


def ssh_config_option() -> list[str]:
    """``["-F", ~/.ssh/config]`` when ``$HOME`` is not the user's home directory of the system
    (``ssh`` reads the config of the latter, this process the former: ``$HOME`` wins); else
    nothing, and ``ssh`` reads the user's and the system's config as it always does."""
    path = ssh_config_path()
    return ["-F", path] if _system_home() and os.path.exists(path) else []


def resolve(text: str) -> SshTarget:
    """Parse ``[user@]host[:port]`` (``[::1]:2222`` for IPv6) and apply the user's OpenSSH
    configuration (see the module docstring)."""
    match = _TARGET.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise SshTargetError(
            f"SSH target '{text}' is not [user@]host[:port] (a host alias of ~/.ssh/config, "
            "a name or an address; [::1]:2222 for IPv6)"
        )
    name = match.group("ipv6") or match.group("host")
    user, port_text = match.group("user"), match.group("port")
    if port_text and not 0 < int(port_text) < 65536:
        raise SshTargetError(f"SSH target '{text}': port {port_text} is not 1-65535")
    ssh = shutil.which("ssh")
    if ssh:
        settings, source = _ssh_g(ssh, text.strip(), name, user, port_text), "ssh -G"
    else:
        settings, source = _paramiko_config(name), f"paramiko's parser of {ssh_config_path()}"
    port_text = port_text or _one(settings, "port") or "22"
    port = int(port_text) if port_text.isdigit() else 0
    if not 0 < port < 65536:
        raise SshTargetError(f"SSH target '{text}': port {port_text} is not 1-65535")
    known = " ".join(settings.get("userknownhostsfile", [])).split()
    proxy_jump = _one(settings, "proxyjump")
    proxy_command = _one(settings, "proxycommand")
    return SshTarget(
        text=text.strip(),
        hostname=name if match.group("ipv6") else (_one(settings, "hostname") or name),
        port=port,
        user=user or _one(settings, "user") or getpass.getuser(),
        identity_files=_paths(settings.get("identityfile", [])),
        known_hosts_files=_paths(known or DEFAULT_KNOWN_HOSTS),
        proxy_jump=None if (proxy_jump or "none").lower() == "none" else proxy_jump,
        proxy_command=None if (proxy_command or "none").lower() == "none" else proxy_command,
        certificate_files=_paths(settings.get("certificatefile", [])),
        identities_only=(_one(settings, "identitiesonly") or "no").lower() in ("yes", "true"),
        strict_host_key_checking=(_one(settings, "stricthostkeychecking") or "ask").lower(),
        gssapi=(_one(settings, "gssapiauthentication") or "no").lower() in ("yes", "true"),
        not_for_paramiko=tuple(
            f"{name} {_one(settings, name.lower())}"
            for name, default in NOT_PARAMIKO.items()
            if (_one(settings, name.lower()) or default).lower() != default
        ),
        control_master=(_one(settings, "controlmaster") or "false").lower() not in ("false", "no"),
        control_path=_unless(_one(settings, "controlpath"), "none"),
        control_persist=_unless(_one(settings, "controlpersist"), "no", "false"),
        source=source,
    )


def _one(settings: dict[str, list[str]], key: str) -> Optional[str]:
    values = settings.get(key)
    return values[0] if values else None


def _unless(value: Optional[str], *nothing: str) -> Optional[str]:
    return None if value is None or value.lower() in nothing else value


def _paths(paths: Sequence[str]) -> tuple[str, ...]:
    return tuple(os.path.expanduser(p) for p in paths if p.lower() != "none")


def _ssh_g(
    ssh: str, text: str, name: str, user: Optional[str], port: Optional[str]
) -> dict[str, list[str]]:
    """``ssh -G``'s effective settings for the target: ``{keyword: [value, ...]}``."""
    argv = [ssh, *ssh_config_option(), "-G", *(["-l", user] if user else [])]
    argv += [*(["-p", port] if port else []), name]
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RESOLVE_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SshTargetError(f"cannot resolve SSH target '{text}' with ssh -G: {error}") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        why = "; ".join(lines[-2:]) or f"exit {result.returncode}"
        raise SshTargetError(f"SSH target '{text}': ssh -G says: {why}")
    settings: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key:
            settings.setdefault(key.lower(), []).append(value.strip())
    system_home = _system_home()
    if system_home:  # ssh expanded ~ to the system's home directory; $HOME is this process's
        home = os.path.expanduser("~")
        for key in ("identityfile", "certificatefile", "userknownhostsfile", "controlpath"):
            settings[key] = [
                " ".join(_rehome(path, system_home, home) for path in value.split())
                for value in settings.get(key, [])
            ]
    return settings


def _rehome(path: str, system_home: str, home: str) -> str:
    if path == system_home or path.startswith(system_home.rstrip("/") + "/"):
        return home + path[len(system_home.rstrip("/")) :]
    return path


def _paramiko_config(name: str) -> dict[str, list[str]]:
    """``~/.ssh/config`` read by paramiko (no ``ssh`` client here), its top-level ``Include``
    files inserted where they stand (an ``Include`` inside a ``Host``/``Match`` block, which
    OpenSSH reads conditionally, is an error naming the line)."""
    import paramiko

    path = ssh_config_path()
    if not os.path.exists(path):
        return {}
    try:
        config = paramiko.SSHConfig.from_text("\n".join(_with_includes(path, 0))).lookup(name)
    except (paramiko.SSHException, ValueError) as error:
        raise SshTargetError(f"cannot read {path}: {error}") from None
    settings: dict[str, list[str]] = {}
    for key, value in config.items():
        settings[key.lower()] = list(value) if isinstance(value, list) else [str(value)]
    return settings


def _with_includes(path: str, depth: int) -> list[str]:
    """The lines of ``path`` with each top-level ``Include`` replaced by the files it names
    (globs; relative to ``~/.ssh``, as OpenSSH reads them), recursively."""
    import glob

    if depth > 16:
        raise SshTargetError(f"{path}: Include nested more than 16 deep (a loop?)")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SshTargetError(f"cannot read {path}: {error}") from None
    result: list[str] = []
    in_block = False
    for number, line in enumerate(lines, 1):
        words = line.replace("=", " ", 1).split()
        keyword = words[0].lower() if words else ""
        if keyword in ("host", "match"):
            in_block = True
        if keyword != "include":
            result.append(line)
            continue
        if in_block:
            raise SshTargetError(
                f"{path}:{number}: an Include inside a Host or Match block needs the OpenSSH "
                "client to be read (there is no 'ssh' on the PATH): install openssh-client, or "
                "move the Include before the first Host"
            )
        for pattern in words[1:]:
            pattern = os.path.expanduser(pattern)
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.expanduser("~/.ssh"), pattern)
            for included in sorted(glob.glob(pattern)):
                result.extend(_with_includes(included, depth + 1))
                result.append("Host *")  # what follows is top level again
    return result
