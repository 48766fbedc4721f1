"""Timing commands and calls: medians of repeated runs, one warm-up first."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Optional, Sequence


def median_seconds(call: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``call`` over ``repeat`` runs, after one untimed warm-up."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(argv: Sequence[str], env: Optional[dict[str, str]] = None, cwd: Optional[str] = None):
    """Run a command; raise with its output when it fails (a benchmark of a failure is void)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    done = subprocess.run(
        list(argv), env=full_env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def command_seconds(
    argv: Sequence[str],
    repeat: int,
    env: Optional[dict[str, str]] = None,
    cwd: Optional[str] = None,
) -> float:
    return median_seconds(lambda: run(argv, env, cwd), repeat)


#: runs argv, waits for it with wait4, prints wall seconds, peak RSS (KiB) and exit code
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status), file=sys.stderr)
"""


def run_measured(
    argv: Sequence[str], env: Optional[dict[str, str]] = None
) -> tuple[float, float, int]:
    """Wall seconds, peak memory (MiB) and exit code of one run of ``argv`` (output dropped).

    Linux counts the memory of the process that forked a program into the program's peak, so
    the program is started by a small launcher (a fresh ``python -S``), not by this process
    with everything it has loaded; the launcher reports what ``wait4`` says.
    """
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *argv],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
    )  # fmt: skip
    wall, peak_kib, code = done.stderr.split()[-3:]
    return float(wall), int(peak_kib) / 1024, int(code)
