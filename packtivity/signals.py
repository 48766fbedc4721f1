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


def _raise(signum: int, frame: Any) -> None:
    if os.getpid() not in _installed_in:
        # a forked child (a multiprocessing worker) inherited the handler: die as it would have
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
        return
    raise Stopped(signum)


def install() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` (in the main thread; elsewhere, and for
    signals set to be ignored, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _installed_in[:] = [os.getpid()]
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's choice stays
            signal.signal(signum, _raise)
