"""Timing commands and calls (medians of repeated runs, one warm-up first), and the scratch
directories the cases run in."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional, Sequence


@contextmanager
def scratch(prefix: str, base: Optional[str] = None) -> Iterator[Path]:
    """A directory every user of the test cluster can write; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-", dir=base))
    directory.chmod(0o777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _environment(extra: Optional[dict[str, str]]) -> dict[str, str]:
    """This process's environment with ``extra`` set."""
    return {**os.environ, **(extra or {})}


def median_seconds(call: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``call`` over ``repeat`` runs, after one untimed warm-up."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(argv: Sequence[str], env: Optional[dict[str, str]] = None):
    """Run a command (``env``: variables to set); raise with its output when it fails (a
    benchmark of a failure is void)."""
    done = subprocess.run(
        list(argv), env=_environment(env), capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def command_seconds(argv: Sequence[str], repeat: int) -> float:
    """The median wall time of running ``argv``."""
    return fresh_command_seconds(lambda: argv, repeat)


def fresh_command_seconds(
    make_argv: Callable[[], Sequence[str]], repeat: int, env: Optional[dict[str, str]] = None
) -> float:
    """Like :func:`command_seconds`, with new arguments (a new work directory) each run."""
    return median_seconds(lambda: run(make_argv(), env), repeat)


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
    """Wall seconds, peak memory (MiB) and exit code of one run of ``argv`` (output dropped;
    ``env``: variables to set).

    Linux counts the memory of the process that forked a program into the program's peak, so
    the program is started by a small launcher (a fresh ``python -S``), not by this process
    with everything it has loaded; the launcher reports what ``wait4`` says.
    """
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *argv],
        env=_environment(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    wall, peak_kib, code = done.stderr.split()[-3:]
    return float(wall), int(peak_kib) / 1024, int(code)
