"""Timing commands and calls: medians of repeated runs, one warm-up first."""

from __future__ import annotations

import os
import statistics
import subprocess
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
