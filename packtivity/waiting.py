"""Waiting for submitted steps, with progress a person can follow.

On a terminal one status line is rewritten in place (job, state, elapsed time); elsewhere (CI
logs, pipes) a line is printed only when a job's state changes.  How often to look comes from
the batch poller's adaptive interval, so waiting costs one status command per cycle however many
jobs are waited for.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Optional

from .batch.poller import BACKOFF, MAX_INTERVAL, MIN_INTERVAL
from .hosts import HostUnreachable
from .protocol import AsyncBackend, Proxy, Status, Watches, status_of

__all__ = ["wait", "watch_all"]


def watch_all(backend: AsyncBackend, proxy: Proxy) -> None:
    """Let a backend that answers for many steps at once know of this one before anything is
    asked (one poll for all)."""
    if isinstance(backend, Watches):
        backend.watch(proxy)


def _interval(items: list[tuple[str, AsyncBackend, Proxy]], waited: float) -> float:
    """Seconds until the next look: a batch poller's own interval; for other backends (one
    cheap query per step) 0.1 s at first, growing with the time waited, up to 1 s."""
    quick = min(1.0, max(0.1, waited / 10))
    intervals = [b.poll_interval() if isinstance(b, Watches) else quick for _, b, _ in items]
    return max(0.1, min(intervals or [quick]))


def clock(seconds: float) -> str:
    """A span of time as a person reads it: ``m:ss``, or ``h:mm:ss`` from an hour on."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def wait(
    items: list[tuple[str, AsyncBackend, Proxy]],
    stream: IO[str] = sys.stderr,
    timeout: Optional[float] = None,
) -> dict[str, Status]:
    """Wait until every ``(label, backend, proxy)`` has finished; return their statuses.

    A host that cannot be reached (a dropped SSH connection) is asked again with the poller's
    back-off; the wait resumes when it answers.

    ``KeyboardInterrupt`` passes through (the jobs keep running; the caller says how to check
    them later).  ``TimeoutError`` after ``timeout`` seconds.
    """
    for _, backend, proxy in items:
        watch_all(backend, proxy)
    live = stream.isatty()
    start = time.monotonic()
    last: dict[str, str] = {}
    statuses: dict[str, Status] = {}
    unreachable_delay = 0.0
    try:
        while True:
            try:
                statuses = {label: status_of(backend, proxy) for label, backend, proxy in items}
            except HostUnreachable as error:  # the jobs run on; ask again, less and less often
                if not unreachable_delay:
                    stream.write(("\r\033[K" if live else "") + f"{error}; trying again\n")
                    stream.flush()
                if timeout is not None and time.monotonic() - start > timeout:
                    raise TimeoutError(f"not finished after {timeout:.0f} s") from None
                unreachable_delay = min(
                    max(MIN_INTERVAL, unreachable_delay * BACKOFF), MAX_INTERVAL
                )
                time.sleep(unreachable_delay)
                continue
            unreachable_delay = 0.0
            elapsed = clock(time.monotonic() - start)
            if live:
                stream.write("\r\033[K" + _summary(statuses, elapsed))
                stream.flush()
            else:
                for label, status in statuses.items():
                    if last.get(label) != _line(status):
                        stream.write(f"{label}: {_line(status)} ({elapsed})\n")
                        stream.flush()
            last = {label: _line(status) for label, status in statuses.items()}
            if all(status.finished for status in statuses.values()):
                return statuses
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"not finished after {timeout:.0f} s")
            time.sleep(_interval(items, time.monotonic() - start))
    finally:
        if live:
            stream.write("\n")
            stream.flush()


def _line(status: Status) -> str:
    """A status as shown while waiting: the state, and a note while not finished (a failure's
    message is the caller's to report)."""
    if status.message and not status.finished:
        return f"{status.state}: {status.message}"
    return status.state


def _summary(statuses: dict[str, Status], elapsed: str) -> str:
    if len(statuses) == 1:
        ((label, status),) = statuses.items()
        return f"{label}: {_line(status)}, {elapsed} elapsed"
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status.state] = counts.get(status.state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return f"{len(statuses)} jobs: {parts}, {elapsed} elapsed"
