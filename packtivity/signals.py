"""SIGTERM and SIGHUP handled as Ctrl-C is: an exception in the main thread, so that whatever
runs finishes its part (a local step is stopped and writes its run record, a wait saves its
proxy) and the command ends with the documented exit code and one line.

Exit codes: 130 after Ctrl-C (SIGINT), 143 after SIGTERM, 129 after SIGHUP (128 + the signal).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any


class Stopped(KeyboardInterrupt):
    """This process was asked to stop by ``signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def exit_code(interruption: BaseException) -> int:
    """128 + the signal that interrupted (SIGINT for a plain ``KeyboardInterrupt``)."""
    return 128 + int(getattr(interruption, "signum", signal.SIGINT))


def describe(interruption: BaseException) -> str:
    """``interrupted`` (Ctrl-C) or ``stopped by SIGTERM``."""
    signum = getattr(interruption, "signum", None)
    return "interrupted" if signum is None else f"stopped by {signal.Signals(signum).name}"


_installed_in: list[int] = []  # the process that installed the handlers
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _raise(signum: int, frame: Any) -> None:
    if os.getpid() not in _installed_in:  # (a child forked before the reset below ran)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
        return
    raise Stopped(signum)


def _defaults_in_child() -> None:
    """In a forked child (a multiprocessing worker): the signals kill at once, as the kernel
    does by default.  A Python-level handler runs only when the interpreter gets to it, and a
    worker stuck in a lock it inherited from the fork would never die of a pool's SIGTERM."""
    for signum in SIGNALS:
        if signal.getsignal(signum) is _raise:
            signal.signal(signum, signal.SIG_DFL)


def install() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` (in the main thread; elsewhere, and for
    signals set to be ignored, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if not _installed_in:
        os.register_at_fork(after_in_child=_defaults_in_child)
    _installed_in[:] = [os.getpid()]
    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's choice stays
            signal.signal(signum, _raise)
