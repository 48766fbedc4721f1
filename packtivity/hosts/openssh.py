"""A :class:`~packtivity.hosts.Host` reached through the user's own ``ssh``, one login shared by
every process: ``ssh_transport: openssh``.

Every command is ``ssh -o ControlMaster=auto -o ControlPath=P -o ControlPersist=T TARGET --
COMMAND``.  The first one logs in (asking for a one-time code, a password, a key's passphrase
as ``ssh`` does: on the terminal or through ``SSH_ASKPASS``) and leaves a master connection in
the background; every later command of any process of this user reuses it until it has been
idle for ``ControlPersist``.  Everything OpenSSH knows comes for free: Kerberos (GSSAPI),
certificates, ``ProxyCommand``, ``ProxyJump``, ``Match``, agents, hardware keys.

- ControlPath: the user's own (``ssh -G``) when the config sets one, so a master opened in a
  terminal is used; else ``~/.ssh/packtivity-cm/%C``, in a directory only the user can open.
  OpenSSH's master also refuses a client of another user (it checks the peer's uid).
- ControlPersist: the user's own when set, else :data:`CONTROL_PERSIST`.
- Files are read and written with shell commands on the same master (:mod:`.shellfiles`).
- ``ssh`` exits 255 for its own failures: those are told apart from a command's own 255 by
  ``ssh``'s messages, and become :class:`HostUnreachable` (network) or :class:`SshTargetError`
  (host key, credentials: one line saying what to do).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
from typing import IO, Callable, Optional

from ..errors import HostUnreachable
from .base import CommandResult
from .shellfiles import ShellFiles
from .ssh_connect import certificate_problems
from .ssh_target import SshTarget, SshTargetError, ssh_config_option

log = logging.getLogger(__name__)

#: how long an idle master connection stays (a working day: one login per day)
CONTROL_PERSIST = "10h"
COMMAND_TIMEOUT = 300.0  #: as the paramiko transport's
STREAMED_TIMEOUT = 3600.0
TAIL_LINES = 20
_CONNECTION_ERRORS = (
    "connection refused",
    "connection timed out",
    "no route to host",
    "could not resolve hostname",
    "network is unreachable",
    "connection closed by",
    "connection reset",
    "broken pipe",
    "kex_exchange_identification",
    "operation timed out",
)


class OpenSshHost(ShellFiles):
    """Commands and files on ``target`` through ``ssh`` (see the module docstring)."""

    def __init__(
        self,
        target: SshTarget,
        accept_new_host_key: bool = False,
        control_path: Optional[str] = None,
        control_persist: Optional[str] = None,
    ) -> None:
        ssh = shutil.which("ssh")
        if not ssh:
            raise SshTargetError(
                "ssh_transport openssh needs the OpenSSH client ('ssh' is not on the PATH)"
            )
        self.target = target
        self.name = target.label
        self.control_path = control_path or _default_control_path()
        options = [
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_path}",
            "-o", f"ControlPersist={control_persist or CONTROL_PERSIST}",
            "-o", "ServerAliveInterval=15",
        ]  # fmt: skip
        if accept_new_host_key:
            options += ["-o", "StrictHostKeyChecking=accept-new"]
        if _nobody_to_ask():
            options += ["-o", "BatchMode=yes"]  # fail, do not hang
        # the target as the user typed it: ssh applies the config itself (Match, Include, ...)
        self._destination = f"ssh://{target.text}"  # ssh's own form of user@host:port
        self._argv = [ssh, *ssh_config_option(), *options, "-T", self._destination]
        self._lock = threading.Lock()
        self._home: Optional[str] = None
        self._home_directory()  # logs in (or joins the master): a wrong target fails here

    def close(self) -> None:
        """Nothing to close: the master connection outlives this process by design (``ssh -O
        exit`` ends it)."""

    def stop_master(self) -> None:
        """End the shared master connection (``ssh -O exit``)."""
        subprocess.run(
            [*self._argv[:-2], "-O", "exit", self._destination],  # (-T and the target replaced)
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )

    # ---- commands ---------------------------------------------------------------------------

    def _command(self, argv: list[str], environment: Optional[dict[str, str]]) -> list[str]:
        if environment:  # as the login shell there runs it: NAME=value program args
            argv = [*(f"{name}={value}" for name, value in environment.items()), *argv]
        return [*self._argv, "--", shlex.join(argv)]

    def run(
        self,
        argv: list[str],
        *,
        stdin_text: Optional[str] = None,
        environment: Optional[dict[str, str]] = None,
    ) -> CommandResult:
        log.debug("%s$ %s", self.name, shlex.join(argv))
        try:
            done = subprocess.run(
                self._command(argv, environment),
                input=(stdin_text or "").encode(),
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise HostUnreachable(
                f"{self.name} did not answer '{shlex.join(argv)[:80]}' in {COMMAND_TIMEOUT:.0f} s"
            ) from None
        errors = done.stderr.decode(errors="replace")
        self._check_ssh(done.returncode, errors)
        return CommandResult(done.returncode, done.stdout.decode(errors="replace"), errors)

    def run_streamed(
        self, argv: list[str], *, stdin_text: Optional[str] = None, logfile: Optional[str] = None
    ) -> CommandResult:
        tail: list[str] = []
        appender = (
            subprocess.Popen(
                self._command(["sh", "-c", 'cat >>"$1"', "sh", logfile], None),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if logfile
            else None
        )
        write_lock = threading.Lock()
        process = subprocess.Popen(
            self._command(argv, None),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        errors: list[bytes] = []

        def pump(source: IO[bytes], stream: IO[str], keep: Callable[[bytes], None]) -> None:
            terminal = getattr(stream, "buffer", None)
            for data in iter(lambda: source.read1(32768), b""):  # type: ignore[attr-defined]
                with write_lock:
                    if terminal is not None:
                        terminal.write(data)
                        terminal.flush()
                    else:
                        stream.write(data.decode(errors="replace"))
                    if appender is not None and appender.stdin is not None:
                        appender.stdin.write(data)
                        appender.stdin.flush()
                    tail.extend(data.decode(errors="replace").splitlines())
                    del tail[:-TAIL_LINES]
                    keep(data)

        assert process.stdin and process.stdout and process.stderr
        process.stdin.write((stdin_text or "").encode())
        process.stdin.close()
        reader = threading.Thread(
            target=pump, args=(process.stderr, sys.stderr, errors.append), daemon=True
        )
        reader.start()
        pump(process.stdout, sys.stdout, lambda data: None)
        reader.join()
        try:
            returncode = process.wait(timeout=STREAMED_TIMEOUT)
        finally:
            if appender is not None and appender.stdin is not None:
                appender.stdin.close()
                appender.wait(timeout=60)
        self._check_ssh(returncode, b"".join(errors).decode(errors="replace"))
        return CommandResult(returncode, "\n".join(tail))

    def _check_ssh(self, returncode: int, errors: str) -> None:
        """Raise when ``ssh`` itself failed (exit 255 with its own message)."""
        if returncode != 255:
            return
        lowered = errors.lower()
        lines = [line for line in errors.splitlines() if line.strip()]
        said = lines[-1].strip() if lines else "ssh exited with 255"
        if "host key verification failed" in lowered or "host key for" in lowered:
            raise SshTargetError(
                f"SSH to {self.name}: the host key is unknown or has changed ({said}): check it "
                "with the cluster's admins, then log in once with ssh, or pass "
                "--accept-new-host-key for a host never seen"
            )
        if "permission denied" in lowered or "too many authentication failures" in lowered:
            raise SshTargetError(f"SSH to {self.name}: {self._why_denied(said)}")
        if any(text in lowered for text in _CONNECTION_ERRORS):
            raise HostUnreachable(f"cannot reach {self.name}: {said}")

    def _why_denied(self, said: str) -> str:
        """What the user can do about a refused login: a ticket to renew, a certificate to
        renew, a prompt nobody could answer."""
        methods = said.partition("(")[2].rstrip(").")
        if "gssapi" in methods and self.target.gssapi and not _kerberos_ticket():
            return (
                f"no valid Kerberos ticket (none, or expired; the server allows {methods}): "
                "run kinit, then try again"
            )
        expired = certificate_problems(self.target)
        if expired:
            return expired[0]
        if _nobody_to_ask():
            return (
                f"{said} (there is no terminal to ask for a code or password: log in once in a "
                "terminal, the login is then shared by later runs)"
            )
        return f"{said}: check User/IdentityFile in ~/.ssh/config, 'ssh-add' your key, or kinit"

    def _home_directory(self) -> str:
        with self._lock:
            if self._home is None:
                result = self.run(["sh", "-c", 'printf %s "$HOME"'])
                if result.returncode != 0 or not result.output.startswith("/"):
                    why = (result.errors or result.output).strip() or f"exit {result.returncode}"
                    raise HostUnreachable(f"SSH to {self.name} failed: {why}")
                self._home = result.output
            return self._home


def _nobody_to_ask() -> bool:
    """No terminal and no ``SSH_ASKPASS``: nobody can answer ssh's prompts."""
    return not sys.stdin.isatty() and not os.environ.get("SSH_ASKPASS")


def _default_control_path() -> str:
    """``~/.ssh/packtivity-cm/%C``, in a directory of the user's only (made 0700).  A socket's
    path has at most 107 bytes: when the home directory's is too long for one, the directory
    is ``$XDG_RUNTIME_DIR/packtivity-cm`` or ``/tmp/packtivity-cm-UID`` (owned by the user and
    0700, else refused)."""
    candidates = [os.path.expanduser("~/.ssh/packtivity-cm")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "packtivity-cm"))
    candidates.append(f"/tmp/packtivity-cm-{os.getuid()}")
    directory = next(d for d in candidates if len(d) + 1 + _SOCKET_NAME < _SOCKET_PATH_MAX)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    status = os.lstat(directory)
    if status.st_uid != os.getuid() or not stat.S_ISDIR(status.st_mode):
        raise SshTargetError(
            f"{directory} is not a directory of yours: remove it, or set ControlPath"
        )
    if status.st_mode & 0o077:
        os.chmod(directory, 0o700)
    return os.path.join(directory, "%C")


#: OpenSSH's %C (40 hex digits), and the ".<16 random>" suffix of the socket while it is made
_SOCKET_NAME = 40 + 17
_SOCKET_PATH_MAX = 104  #: sun_path is 108 bytes on Linux, 104 on macOS


def _kerberos_ticket() -> bool:
    """Whether the user's credential cache holds a valid ticket (``klist -s``); True when there
    is no klist to ask (then the server's refusal is reported as it is)."""
    klist = shutil.which("klist")
    if not klist:
        return True
    return subprocess.run([klist, "-s"], stdin=subprocess.DEVNULL, check=False).returncode == 0
