"""A :class:`~packtivity.hosts.Host` reached over SSH: one paramiko connection per target.

Commands run as ``shlex.join(argv)`` in the login shell of the remote user, so every argument
stays one literal argument (a path with spaces or ``$(...)`` stays a path).  Files are read and
written over SFTP on the same connection.

Connection loss: the connection is re-opened (once per call) when it is found dead.  File
operations and commands that never started are then retried; a command that was running when
the connection dropped is *not* re-run (``sbatch`` twice would submit twice): the call raises
:class:`HostUnreachable`, which waiting code treats as "ask again later".
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import posixpath
import shlex
import stat
import sys
import threading
import uuid
from typing import IO, Any, Callable, Optional, TypeVar

from ..errors import HostUnreachable
from .base import CommandResult
from .globbing import host_glob
from .shellfiles import ShellFiles
from .ssh_connect import connect
from .ssh_target import SshTarget

log = logging.getLogger(__name__)
T = TypeVar("T")

#: seconds a command may stay silent before it is given up (scheduler commands answer in ~10 s)
COMMAND_TIMEOUT = 300.0
#: the same for streamed commands (an image pull can convert quietly for long)
STREAMED_TIMEOUT = 3600.0
TAIL_LINES = 20


class SshHost(ShellFiles):
    """Commands and files on ``target`` (see the module docstring)."""

    def __init__(self, target: SshTarget, accept_new_host_key: bool = False) -> None:
        self.target = target
        self.name = target.label
        self.accept_new_host_key = accept_new_host_key
        self._lock = threading.RLock()  # guards the connection and the SFTP client
        self._transport: Any = None
        self._sftp: Any = None
        self._home: Optional[str] = None
        self._ensure_connected()  # a wrong target fails here, before anything is done

    # ---- the connection ---------------------------------------------------------------------

    def _ensure_connected(self) -> Any:
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                if self._transport is not None:
                    log.warning("connection to %s lost; connecting again", self.name)
                    self.close()
                self._transport = connect(self.target, self.accept_new_host_key)
            return self._transport

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        from .ssh_connect import _close

        with self._lock:
            if self._sftp is not None:
                self._sftp.close()
            if self._transport is not None:
                _close(self._transport)
            self._transport = self._sftp = None

    def _lost(self, what: str, error: BaseException) -> HostUnreachable:
        return HostUnreachable(f"connection to {self.name} lost during {what}: {error}")

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """``action()``; when it fails because the connection died, connect again and run it
        once more (the next ``_ensure_connected`` opens the new connection)."""
        import paramiko

        for attempt in (1, 2):
            try:
                return action()
            except (EOFError, paramiko.SSHException, ConnectionError, TimeoutError) as error:
                transport = self._transport
                if attempt == 2 or (transport is not None and transport.is_active()):
                    raise self._lost(what, error) from None
        raise AssertionError("unreachable")

    def _with_sftp(self, what: str, operation: Callable[[Any], T]) -> T:
        """Run an SFTP operation (under the lock: the client is not thread-safe), retrying once
        on a new connection if the connection was lost."""
        import paramiko

        def with_client() -> T:
            with self._lock:
                transport = self._ensure_connected()
                if self._sftp is None:
                    self._sftp = paramiko.SFTPClient.from_transport(transport)
                    self._home = self._sftp.normalize(".")
                return operation(self._sftp)

        return self._retrying(what, with_client)

    def _open_session(self) -> Any:
        return self._retrying(
            "opening a session", lambda: self._ensure_connected().open_session(timeout=30)
        )

    # ---- commands ---------------------------------------------------------------------------

    def run(
        self,
        argv: list[str],
        *,
        stdin_text: Optional[str] = None,
        environment: Optional[dict[str, str]] = None,
    ) -> CommandResult:
        chunks: dict[str, list[bytes]] = {"out": [], "err": []}
        if environment:  # as the login shell there runs it: NAME=value program args
            argv = [*(f"{name}={value}" for name, value in environment.items()), *argv]
        returncode = self._execute(argv, stdin_text, COMMAND_TIMEOUT, chunks, None)
        return CommandResult(
            returncode,
            b"".join(chunks["out"]).decode(errors="replace"),
            b"".join(chunks["err"]).decode(errors="replace"),
        )

    def run_streamed(
        self, argv: list[str], *, stdin_text: Optional[str] = None, logfile: Optional[str] = None
    ) -> CommandResult:
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        log_handle = (
            self._with_sftp("opening a log", lambda s: s.open(logfile, "a")) if logfile else None
        )
        write_lock = threading.Lock()

        def echo(stream: IO[str]) -> Callable[[bytes], None]:
            terminal = getattr(stream, "buffer", None)

            def show(data: bytes) -> None:
                with write_lock:
                    if terminal is not None:
                        terminal.write(data)
                        terminal.flush()
                    else:
                        stream.write(data.decode(errors="replace"))
                    if log_handle is not None:
                        log_handle.write(data)
                    tail.extend(data.decode(errors="replace").splitlines())

            return show

        try:
            sinks = {"out": echo(sys.stdout), "err": echo(sys.stderr)}
            returncode = self._execute(argv, stdin_text, STREAMED_TIMEOUT, None, sinks)
        finally:
            if log_handle is not None:
                log_handle.close()
        return CommandResult(returncode, "\n".join(tail))

    def _execute(
        self,
        argv: list[str],
        stdin_text: Optional[str],
        timeout: float,
        collect: Optional[dict[str, list[bytes]]],
        sinks: Optional[dict[str, Callable[[bytes], None]]],
    ) -> int:
        command = shlex.join(argv)
        log.debug("%s$ %s", self.name, command)
        channel = self._open_session()
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            if stdin_text:
                channel.sendall(stdin_text.encode())
            channel.shutdown_write()

            def pump(name: str, recv: Callable[[int], bytes]) -> None:
                while True:
                    data = recv(32768)
                    if not data:
                        return
                    if collect is not None:
                        collect[name].append(data)
                    if sinks is not None:
                        sinks[name](data)

            errors: list[BaseException] = []

            def pump_stderr() -> None:
                try:
                    pump("err", channel.recv_stderr)
                except BaseException as error:  # noqa: BLE001 - re-raised below
                    errors.append(error)

            reader = threading.Thread(target=pump_stderr, daemon=True)
            reader.start()
            pump("out", channel.recv)
            reader.join()
            if errors:
                raise errors[0]
            returncode = channel.recv_exit_status()
        except (EOFError, OSError) as error:
            raise self._lost(f"'{_short(command)}'", error) from None
        finally:
            channel.close()
        if returncode == -1:  # closed without an exit status: the connection went away
            raise self._lost(f"'{_short(command)}'", EOFError("no exit status"))
        return int(returncode)

    # ---- files ------------------------------------------------------------------------------

    def _stat(self, path: str) -> Optional[Any]:
        def stat_or_none(sftp: Any) -> Optional[Any]:
            try:
                return sftp.stat(path)
            except OSError as error:
                if _missing(error):
                    return None
                raise

        return self._with_sftp(f"stat {path}", stat_or_none)

    def exists(self, path: str) -> bool:
        return self._stat(path) is not None

    def is_dir(self, path: str) -> bool:
        attributes = self._stat(path)
        return attributes is not None and stat.S_ISDIR(attributes.st_mode or 0)

    def read_text(self, path: str) -> str:
        def read(sftp: Any) -> bytes:
            try:
                with sftp.open(path, "r") as handle:
                    return handle.read()
            except OSError as error:
                if _missing(error):
                    raise FileNotFoundError(errno.ENOENT, "no such file", path) from None
                raise

        return self._with_sftp(f"reading {path}", read).decode("utf-8")

    def write_text(self, path: str, text: str) -> None:
        directory = posixpath.dirname(path)
        if directory:
            self.make_dirs(directory)
        temporary = posixpath.join(directory, f".{posixpath.basename(path)}.{uuid.uuid4().hex}")
        data = text.encode("utf-8")

        def write(sftp: Any) -> None:
            try:
                old_mode = sftp.stat(path).st_mode
            except OSError:
                old_mode = None
            try:
                with sftp.open(temporary, "w") as handle:
                    handle.write(data)
                if old_mode is not None:
                    sftp.chmod(temporary, stat.S_IMODE(old_mode))
                sftp.posix_rename(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    sftp.remove(temporary)
                raise

        self._with_sftp(f"writing {path}", write)

    def append_text(self, path: str, text: str) -> None:
        def append(sftp: Any) -> None:
            with sftp.open(path, "a") as handle:
                handle.write(text.encode("utf-8"))

        self._with_sftp(f"appending to {path}", append)

    def remove(self, path: str) -> None:
        def remove(sftp: Any) -> None:
            try:
                sftp.remove(path)
            except OSError as error:
                if not _missing(error):
                    raise

        self._with_sftp(f"removing {path}", remove)

    def make_dirs(self, path: str) -> None:
        if not self.is_dir(path):  # an SFTP stat (~0.2 ms) spares a command (~3 ms)
            super().make_dirs(path)

    def glob(self, pattern: str) -> list[str]:
        def listdir(directory: str) -> Optional[list[tuple[str, bool]]]:
            def entries(sftp: Any) -> Optional[list[tuple[str, bool]]]:
                try:
                    found = sftp.listdir_attr(directory)
                except OSError:
                    return None
                result = []
                for entry in found:
                    mode = entry.st_mode or 0
                    if stat.S_ISLNK(mode):  # follow links, as glob does
                        try:
                            mode = sftp.stat(posixpath.join(directory, entry.filename)).st_mode
                        except OSError:
                            mode = 0
                    result.append((entry.filename, stat.S_ISDIR(mode or 0)))
                return result

            return self._with_sftp(f"listing {directory}", entries)

        return host_glob(pattern, listdir, self.exists)

    def _home_directory(self) -> str:
        return str(self._with_sftp("finding the home directory", lambda sftp: self._home))


def _missing(error: OSError) -> bool:
    return isinstance(error, FileNotFoundError) or getattr(error, "errno", None) == errno.ENOENT


def _short(command: str, width: int = 80) -> str:
    return command if len(command) <= width else command[: width - 3] + "..."
