"""Run a command, sending its output both to the terminal and to a log file.

The one place where a step's command is started on this machine.  Output lines keep their
stream (stdout to stdout, stderr to stderr); the log file gets both, in arrival order.  The
last lines are kept so that a failure message can show them: at most :data:`TAIL_LINES` lines
of at most :data:`LINE_BYTES` bytes each, so memory stays bounded whatever the command prints
(one line of 100 MB included), and each chunk of output is handled once.

The command runs in a process group of its own.  When this process is interrupted (Ctrl-C,
or SIGTERM/SIGHUP turned into :class:`~packtivity.signals.Stopped` by the CLI), the same signal
is sent to that group -- the command and only the command -- and its output is read until it
has ended, so that the job body writes its run record; then the interruption goes on.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import selectors
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Callable, Optional

TAIL_LINES = 20
LINE_BYTES = 4096  #: a longer line keeps its last this many bytes in the tail
#: seconds an interrupted command has to end (write its record) before it is killed
STOP_GRACE = 30.0


@dataclass
class TeeResult:
    returncode: int
    tail: str


def _sink(stream: IO[str]) -> Callable[[bytes], None]:
    """Write raw output to ``stream``: to its byte buffer when it has one, else decoded (the
    text-only streams of IPython engines and Celery workers)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:

        def write_bytes(chunk: bytes) -> None:
            buffer.write(chunk)
            buffer.flush()

        return write_bytes
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write_text(chunk: bytes) -> None:
        stream.write(decoder.decode(chunk))
        stream.flush()

    return write_text


class _Tail:
    """The last lines of the output, bounded in lines and in bytes per line."""

    def __init__(self) -> None:
        self.lines: collections.deque[bytes] = collections.deque(maxlen=TAIL_LINES)
        self.partial: dict[int, bytes] = {}

    def add(self, fd: int, chunk: bytes) -> None:
        if b"\n" not in chunk:
            self.partial[fd] = (self.partial.get(fd, b"") + chunk)[-LINE_BYTES:]
            return
        head, _, rest = chunk.rpartition(b"\n")
        lines = (self.partial.get(fd, b"") + head[-LINE_BYTES * TAIL_LINES :]).split(b"\n")
        self.lines.extend(line[-LINE_BYTES:] for line in lines[-TAIL_LINES:])
        self.partial[fd] = rest[-LINE_BYTES:]

    def text(self) -> str:
        lines = list(self.lines) + [p for p in self.partial.values() if p]
        return b"\n".join(lines[-TAIL_LINES:]).decode("utf-8", errors="replace")


def run_teed(
    argv: list[str],
    *,
    stdin_text: Optional[str] = None,
    cwd: Optional[str] = None,
    env: Optional[dict[str, str]] = None,
    logfile: Optional[str] = None,
    echo: bool = True,
) -> TeeResult:
    """Run ``argv`` to completion; return its exit code and the tail of its output.

    ``stdin_text`` is fed to the command's stdin (then closed); without it, stdin is empty.
    A command that cannot be started raises ``OSError``.  An interruption of this process is
    passed to the command's process group, the command's end is awaited, and the
    interruption is raised again (see the module docstring).
    """
    tail = _Tail()
    # unbuffered: whoever tails the log (a user, a progress display) sees lines as they come
    log = open(logfile, "ab", buffering=0) if logfile else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: signals reach it, and only it
        )
        try:
            _feed(proc, stdin_text)
            _pump(proc, tail, log, echo)
        except BaseException as interruption:
            _stop(proc, interruption)
            with contextlib.suppress(BaseException):
                _pump(proc, tail, log, echo, deadline=STOP_GRACE)
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
            proc.wait()
            raise
        returncode = proc.wait()
    finally:
        if log:
            log.close()
    return TeeResult(returncode=returncode, tail=tail.text())


def _feed(proc: subprocess.Popen[bytes], stdin_text: Optional[str]) -> None:
    if stdin_text is None:
        return
    assert proc.stdin is not None
    try:
        proc.stdin.write(stdin_text.encode("utf-8"))
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()


def _pump(
    proc: subprocess.Popen[bytes],
    tail: _Tail,
    log: Optional[IO[bytes]],
    echo: bool,
    deadline: Optional[float] = None,
) -> None:
    """Copy the command's output until both pipes close (or ``deadline`` seconds pass)."""
    import time

    assert proc.stdout is not None and proc.stderr is not None
    targets = {
        proc.stdout.fileno(): _sink(sys.stdout),
        proc.stderr.fileno(): _sink(sys.stderr),
    }
    until = None if deadline is None else time.monotonic() + deadline
    with selectors.DefaultSelector() as selector:
        for pipe in (proc.stdout, proc.stderr):
            if not pipe.closed:
                selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            timeout = None if until is None else max(0.0, until - time.monotonic())
            events = selector.select(timeout)
            if not events and until is not None:
                return
            for key, _ in events:
                fd = key.fd
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                if echo:
                    with contextlib.suppress(OSError):  # a closed terminal must not stop us
                        targets[fd](chunk)
                if log:
                    log.write(chunk)
                tail.add(fd, chunk)


def _stop(proc: subprocess.Popen[bytes], interruption: BaseException) -> None:
    """Pass this process's interruption on to the command's process group."""
    signum = getattr(interruption, "signum", None)
    if signum is None:
        signum = signal.SIGINT if isinstance(interruption, KeyboardInterrupt) else signal.SIGTERM
    _signal_group(proc, signum)


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the command's own process group (its PID is the group's id: start_new_session);
    never another: a command that has ended and been reaped is not signalled."""
    if proc.poll() is not None or proc.pid <= 1:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
