"""The benchmark's measuring tools measure what they say (the benchmark itself, with its
timings, runs from ``python -m benchmarks``; no test here asserts a time)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import Row, table  # noqa: E402
from benchmarks.timing import run_measured  # noqa: E402

MIB = 2**20


def test_peak_memory_is_the_programs_own_not_this_process() -> None:
    """Linux counts a forking process's memory into its child's peak: with 300 MiB held here,
    a small program must still measure small, and a program that fills 200 MiB must not."""
    held = b"x" * (300 * MIB)  # resident: written, not just reserved
    _, small, small_code = run_measured([sys.executable, "-c", "pass"])
    _, large, large_code = run_measured(
        [sys.executable, "-c", f"data = b'x' * {200 * MIB}; import sys; sys.exit(3)"]
    )
    del held
    assert small < 40 and small_code == 0
    assert 200 <= large < 300 and large_code == 3


def test_table_marks_misses_and_rows_without_target() -> None:
    rows = [
        Row("fast", 0.010, "ref", 0.020, "faster", True),
        Row("slow", 2.0, "ref", 1.0, "faster", False, note="why"),
        Row("no target", 1.5, "ref", None, "-", None, unit="MiB"),
    ]
    lines = table(rows).splitlines()
    assert lines[2] == "| fast | 10.0 ms | ref | 20.0 ms | 0.50x | faster | yes |"
    assert lines[3] == "| slow (why) | 2000.0 ms | ref | 1000.0 ms | 2.00x | faster | **no** |"
    assert lines[4] == "| no target | 1.5 MiB | ref | - | - | - | - |"
