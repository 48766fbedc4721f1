"""Opening one authenticated SSH connection (a paramiko ``Transport``) to an :class:`SshTarget`.

- The socket is opened here, with ``TCP_NODELAY`` (paramiko never sets it: Nagle and delayed
  ACKs cost ~45 ms per command, docs/architecture.md) and TCP keepalive; through ``ProxyJump``
  hosts it is a ``direct-tcpip`` channel of the jump host's connection.
- Host keys are checked strictly against the known_hosts files (``UserKnownHostsFile``, default
  ``~/.ssh/known_hosts``): an unknown host is refused with how to add it, a changed key is
  refused loudly.  ``accept_new_host_key`` is OpenSSH's ``accept-new``: an unknown host's key is
  appended (atomically), a changed one is still refused.
- Authentication: the agent's keys, then ``IdentityFile`` keys, then ``~/.ssh/id_*``; then, when
  the server asks for it and there is a terminal, keyboard-interactive (password, one-time code)
  or password.  Answers are kept in memory only for the exchange; nothing is written anywhere.
"""

from __future__ import annotations

import base64
import copy
import getpass
import hashlib
import logging
import os
import re
import shlex
import socket
import sys
import time
from typing import Any, Callable, Optional

from ..atomicfile import write_text_atomic
from ..errors import HostUnreachable
from .ssh_target import DEFAULT_IDENTITIES, SshTarget, SshTargetError, resolve

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0  #: seconds for TCP connect, SSH handshake and each authentication step
KEEPALIVE = 15  #: seconds between SSH keepalive messages
MAX_JUMPS = 8

#: asks a person: ``(prompt, echo) -> answer``; raises SshTargetError when nobody can answer
Prompter = Callable[[str, bool], str]


def terminal_prompt(prompt: str, echo: bool) -> str:
    """Ask on the terminal; without one, say that a key is needed."""
    if not sys.stdin.isatty():
        raise SshTargetError(
            f"the SSH server asks '{prompt.strip()}' but there is no terminal to ask on: "
            "use a key (ssh-agent or IdentityFile) for unattended runs"
        )
    return input(prompt) if echo else getpass.getpass(prompt)


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def connect(
    target: SshTarget,
    accept_new_host_key: bool = False,
    prompt: Prompter = terminal_prompt,
    _hops: int = 0,
) -> Any:
    """An authenticated ``paramiko.Transport`` to ``target`` (its jump transports hang on it)."""
    import paramiko

    if target.not_for_paramiko:
        raise SshTargetError(
            f"SSH to {target.label}: {', '.join(target.not_for_paramiko)} ({target.source}) is "
            "not something the paramiko transport can do: set 'ssh_transport: openssh' in the "
            "config file (or PACKTIVITY_SSH_TRANSPORT=openssh) to connect through ssh"
        )
    if target.control_master and not _hops:
        log.warning(
            "%s: ControlMaster in the ssh config is not used by the paramiko transport (one "
            "connection per process); 'ssh_transport: openssh' shares one login",
            target.label,
        )
    accept_new_host_key = accept_new_host_key or target.accepts_new_host_keys
    sock, jumps = _open_socket(target, accept_new_host_key, prompt, _hops)
    transport = paramiko.Transport(sock)
    transport.packtivity_jumps = jumps  # type: ignore[attr-defined]  # keep them alive
    try:
        transport.banner_timeout = CONNECT_TIMEOUT
        transport.start_client(timeout=CONNECT_TIMEOUT)
        check_host_key(target, transport.get_remote_server_key(), accept_new_host_key)
        authenticate(transport, target, prompt)
    except (paramiko.SSHException, EOFError, OSError) as error:
        _close(transport)
        raise HostUnreachable(
            f"SSH to {target.label} failed: {error or type(error).__name__}"
        ) from None
    except BaseException:
        _close(transport)
        raise
    transport.set_keepalive(KEEPALIVE)
    return transport


def _close(transport: Any) -> None:
    transport.close()
    for jump in getattr(transport, "packtivity_jumps", []):
        _close(jump)


def _open_socket(
    target: SshTarget, accept_new: bool, prompt: Prompter, hops: int
) -> tuple[Any, list[Any]]:
    if target.proxy_command and not target.proxy_jump:
        return _proxy_command(target), []
    if not target.proxy_jump:
        try:
            sock = socket.create_connection((target.hostname, target.port), CONNECT_TIMEOUT)
        except OSError as error:
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise HostUnreachable(f"cannot reach {target.label}: {reason}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return sock, []
    if hops >= MAX_JUMPS:
        raise SshTargetError(f"more than {MAX_JUMPS} ProxyJump hops to {target.label}: a loop?")
    chain = [hop.strip() for hop in target.proxy_jump.split(",") if hop.strip()]
    jump_target = resolve(chain[-1].removeprefix("ssh://"))
    if len(chain) > 1:  # the earlier hops lead to the last one
        jump_target = _with_jump(jump_target, ",".join(chain[:-1]))
    jump = connect(jump_target, accept_new, prompt, hops + 1)
    try:
        channel = jump.open_channel(
            "direct-tcpip", (target.hostname, target.port), ("127.0.0.1", 0), CONNECT_TIMEOUT
        )
    except Exception as error:
        _close(jump)
        raise HostUnreachable(
            f"jump host {jump_target.label} cannot reach {target.label}: {error}"
        ) from None
    return channel, [jump]


def _proxy_command(target: SshTarget) -> Any:
    """The socket of ``ProxyCommand`` (its stdin and stdout), with OpenSSH's %h %p %r %n %%."""
    import paramiko

    tokens = {"h": target.hostname, "p": str(target.port), "r": target.user, "n": target.text}
    command = re.sub(
        r"%(.)", lambda m: "%" if m.group(1) == "%" else tokens.get(m.group(1), m.group(0)),
        target.proxy_command or "",
    )  # fmt: skip
    try:  # run by the shell, as ssh runs it (paramiko would split the line itself)
        return paramiko.ProxyCommand(shlex.join(["/bin/sh", "-c", f"exec {command}"]))
    except paramiko.SSHException as error:
        raise HostUnreachable(f"ProxyCommand for {target.label} failed: {error}") from None


def _with_jump(target: SshTarget, proxy_jump: str) -> SshTarget:
    from dataclasses import replace

    return replace(target, proxy_jump=proxy_jump)


def check_host_key(target: SshTarget, key: Any, accept_new: bool) -> None:
    """Refuse an unknown or changed host key (see the module docstring)."""
    import paramiko

    known = paramiko.HostKeys()
    for path in target.known_hosts_files:
        if os.path.exists(path):
            try:
                known.load(path)
            except (OSError, paramiko.SSHException, ValueError) as error:
                raise SshTargetError(f"cannot read known_hosts file {path}: {error}") from None
    name = target.known_hosts_name
    entry = known.lookup(name)
    files = " or ".join(target.known_hosts_files)
    if entry is None:
        if accept_new:
            _add_known_host(target.known_hosts_files[0], name, key)
            log.warning(
                "added the host key of %s (%s %s) to %s",
                name,
                key.get_name(),
                fingerprint(key),
                target.known_hosts_files[0],
            )
            return
        port = f"-p {target.port} " if target.port != 22 else ""
        raise SshTargetError(
            f"the host key of {name} ({key.get_name()} {fingerprint(key)}) is not in {files}: "
            f"check that fingerprint with the cluster's admins, then add it with "
            f"'ssh-keyscan {port}{target.hostname} >> {target.known_hosts_files[0]}', "
            "or log in once with ssh, or pass --accept-new-host-key"
        )
    if entry.get(key.get_name()) != key:
        known_types = ", ".join(sorted(entry.keys()))
        raise SshTargetError(
            f"REFUSED: the host key of {name} HAS CHANGED (now {key.get_name()} "
            f"{fingerprint(key)}; known: {known_types} in {files}). Someone may be intercepting "
            "the connection, or the host was reinstalled. Ask its admins; once sure, remove the "
            f"old key with 'ssh-keygen -R \"{name}\"'"
        )


def _add_known_host(path: str, name: str, key: Any) -> None:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    if text and not text.endswith("\n"):
        text += "\n"
    write_text_atomic(path, f"{text}{name} {key.get_name()} {key.get_base64()}\n")


def _candidate_keys(target: SshTarget, prompt: Prompter) -> list[Any]:
    """The agent's keys (unless ``IdentitiesOnly``), then the ``IdentityFile`` keys (each with
    its certificate first: ``<key>-cert.pub`` or a ``CertificateFile`` that matches it), then
    the default ``~/.ssh/id_*`` when the config names none."""
    import paramiko

    keys: list[Any] = []
    if os.environ.get("SSH_AUTH_SOCK") and not target.identities_only:
        try:
            keys.extend(paramiko.Agent().get_keys())
        except paramiko.SSHException as error:
            log.warning("ssh-agent: %s", error)
    for path in _identity_paths(target):
        if os.path.exists(path):
            for key in _load_key(path, prompt):
                keys.extend(_with_certificates(key, path, target))
                keys.append(key)
    return keys


def _with_certificates(key: Any, path: str, target: SshTarget) -> list[Any]:
    """Copies of ``key`` carrying each certificate of it that is valid now; an expired or not
    yet valid one is skipped with a warning (and named if no credential is accepted)."""
    import paramiko

    found = []
    for cert in (f"{path}-cert.pub", *target.certificate_files):
        if not os.path.exists(cert):
            continue
        certified = copy.copy(key)  # load_certificate sets the copy's public blob only
        try:
            certified.load_certificate(cert)
        except (ValueError, OSError, paramiko.SSHException):
            continue  # a certificate of another key
        problem = certificate_problem(cert)
        if problem:
            log.warning("%s", problem)
            continue
        found.append(certified)
    return found


def _identity_paths(target: SshTarget) -> list[str]:
    """The target's ``IdentityFile`` paths, or the default ``~/.ssh/id_*`` when it names none."""
    return list(target.identity_files) or [os.path.expanduser(p) for p in DEFAULT_IDENTITIES]


def certificate_problems(target: SshTarget) -> list[str]:
    """Why the certificates of ``target`` (``<IdentityFile>-cert.pub``, ``CertificateFile``)
    that exist cannot be used now: expired, not valid yet (see :func:`certificate_problem`).
    Both transports name the first when the server refuses every credential."""
    paths = [*(f"{p}-cert.pub" for p in _identity_paths(target)), *target.certificate_files]
    problems = (certificate_problem(path) for path in paths if os.path.exists(path))
    return [problem for problem in problems if problem]


def certificate_problem(path: str) -> Optional[str]:
    """Why the OpenSSH certificate at ``path`` cannot be used now (expired, not yet valid), or
    None.  Reads its validity as ``ssh-keygen -L`` prints it (PROTOCOL.certkeys)."""
    import paramiko

    try:
        with open(path, encoding="utf-8") as handle:
            fields = handle.read().split()
        blob = base64.b64decode(fields[1])
        message = paramiko.Message(blob)
        kind = message.get_text()
        message.get_string()  # nonce
        for _ in range(_KEY_FIELDS.get(kind.split("-cert-")[0], 1)):
            message.get_string()  # the public key's own fields
        message.get_int64()  # serial
        message.get_int()  # type
        message.get_string()  # key id
        message.get_string()  # principals
        valid_after, valid_before = message.get_int64(), message.get_int64()
    except (OSError, IndexError, ValueError, UnicodeDecodeError):
        return None  # not a certificate we can read: the server decides
    now = time.time()
    if now >= valid_before:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(valid_before))
        return f"the SSH certificate {path} expired at {when}: get a new one from your site"
    if now < valid_after:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(valid_after))
        return f"the SSH certificate {path} is valid only from {when}"
    return None


#: how many wire fields each public key type has inside a certificate
_KEY_FIELDS = {
    "ssh-ed25519": 1,
    "ssh-rsa": 2,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "ssh-dss": 4,
    "sk-ssh-ed25519@openssh.com": 2,
    "sk-ecdsa-sha2-nistp256@openssh.com": 3,
}


def _load_key(path: str, prompt: Prompter) -> list[Any]:
    import paramiko

    try:
        return [paramiko.PKey.from_path(path)]
    except paramiko.PasswordRequiredException:
        try:
            passphrase = prompt(f"Passphrase for key {path}: ", False)
        except SshTargetError:
            log.warning("key %s needs a passphrase and there is no terminal; skipped", path)
            return []
        try:
            # (types-paramiko's stub lacks from_path's passphrase, which paramiko 3.4 has)
            key = paramiko.PKey.from_path(path, passphrase=passphrase.encode())  # type: ignore[call-arg]
            return [key]
        except paramiko.SSHException as error:
            raise SshTargetError(f"cannot unlock key {path}: {error}") from None
    except (OSError, paramiko.SSHException, ValueError) as error:
        log.warning("cannot use key %s: %s", path, error)
        return []


def authenticate(transport: Any, target: SshTarget, prompt: Prompter) -> None:
    """Authenticate ``transport`` as ``target.user`` (see the module docstring)."""
    import paramiko

    allowed: Optional[list[str]] = None
    for key in _candidate_keys(target, prompt):
        try:
            remaining = transport.auth_publickey(target.user, key)
        except paramiko.BadAuthenticationType as error:
            allowed = list(error.allowed_types)
            break
        except paramiko.AuthenticationException:
            continue
        if transport.is_authenticated():
            return
        allowed = list(remaining)  # a key was accepted, a second factor is wanted
        break
    if allowed is None:
        try:
            transport.auth_none(target.user)
            if transport.is_authenticated():
                return
        except paramiko.BadAuthenticationType as error:
            allowed = list(error.allowed_types)
        except paramiko.AuthenticationException:
            allowed = []
    allowed = allowed or []

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        for text in (title, instructions):
            if text and text.strip():
                print(text.strip(), file=sys.stderr)
        return [prompt(f"({target.label}) {text}", echo) for text, echo in prompts]

    try:
        if "keyboard-interactive" in allowed:
            transport.auth_interactive(target.user, answer)
        elif "password" in allowed:
            transport.auth_password(
                target.user, prompt(f"({target.label}) password for {target.user}: ", False)
            )
    except paramiko.AuthenticationException:
        pass
    if not transport.is_authenticated() and "gssapi-with-mic" in allowed and target.gssapi:
        raise SshTargetError(
            f"SSH to {target.label}: the server asks for Kerberos (GSSAPI), which the paramiko "
            "transport cannot use here: set 'ssh_transport: openssh' in the config file (or "
            "PACKTIVITY_SSH_TRANSPORT=openssh) to log in with your ticket through ssh"
        )
    expired = [] if transport.is_authenticated() else certificate_problems(target)
    if expired:
        raise SshTargetError(f"SSH to {target.label}: {expired[0]}")
    if not transport.is_authenticated():
        existing = [p for p in target.identity_files if os.path.exists(p)]
        tried = ", ".join(existing) or "the agent and ~/.ssh/id_*"
        raise SshTargetError(
            f"SSH to {target.label}: no credential was accepted (keys tried: {tried}; the server "
            f"allows: {', '.join(allowed) or 'publickey'}); check User/IdentityFile in "
            "~/.ssh/config or 'ssh-add' your key"
        )
