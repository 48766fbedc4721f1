"""Run a command, sending its output both to the terminal and to a log file.

The one place where a step's command is started on this machine.  Output lines keep their
stream (stdout to stdout, stderr to stderr); the log file gets both, in arrival order.  The
last lines are kept so that a failure message can show them.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import selectors
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Callable, Optional

TAIL_LINES = 20


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
    A command that cannot be started raises ``OSError``.
    """
    tail: collections.deque[bytes] = collections.deque(maxlen=TAIL_LINES)
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
        )
        if stdin_text is not None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin_text.encode("utf-8"))
            except BrokenPipeError:
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        assert proc.stdout is not None and proc.stderr is not None
        targets = {
            proc.stdout.fileno(): _sink(sys.stdout),
            proc.stderr.fileno(): _sink(sys.stderr),
        }
        partial = {fd: b"" for fd in targets}
        with selectors.DefaultSelector() as selector:
            for pipe in (proc.stdout, proc.stderr):
                selector.register(pipe, selectors.EVENT_READ)
            open_pipes = 2
            while open_pipes:
                for key, _ in selector.select():
                    fd = key.fd
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        open_pipes -= 1
                        if partial[fd]:
                            tail.append(partial[fd])
                        continue
                    if echo:
                        targets[fd](chunk)
                    if log:
                        log.write(chunk)
                    lines = (partial[fd] + chunk).split(b"\n")
                    partial[fd] = lines.pop()
                    tail.extend(lines)
        returncode = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    finally:
        if log:
            log.close()
    text = b"\n".join(tail).decode("utf-8", errors="replace")
    return TeeResult(returncode=returncode, tail=text)
