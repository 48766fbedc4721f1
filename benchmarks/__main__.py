"""``python -m benchmarks``: run the benchmarks, print the table, write JSON.

Needs the test cluster up and its environment set (``./dev bench`` does both): the container
cases use its test image, the Slurm cases its Slurm, the SSH case its sshd.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from . import local_cases, pbs_cases, slurm_cases, ssh_cases
from .report import Row, table, write_json

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def cases(repeat: int) -> dict[str, Callable[[], list[Row]]]:
    """The cases by name, in the order of issue 8's list."""
    images = Path(os.environ.get("PACKTIVITY_TEST_IMAGES", "/var/lib/packtivity-cluster/images"))
    return {
        "cli": lambda: [local_cases.cli_start(repeat)],
        "host": lambda: [local_cases.host_step(repeat)],
        "container": lambda: local_cases.container_overhead(repeat, images / "busybox.sif"),
        "local-async": lambda: [local_cases.local_async(repeat)],
        "big-output": lambda: local_cases.big_output(min(repeat, 3)),
        "submit": lambda: [
            slurm_cases.cli_submission(repeat),
            slurm_cases.inprocess_submission(200),
        ],
        "status": lambda: slurm_cases.status_of_proxies(repeat),
        "throughput": lambda: slurm_cases.throughput(200),
        "ssh": lambda: [slurm_cases.ssh_submission(100)],
        "end-detection": lambda: slurm_cases.end_detection(),
        "scatter-limit": lambda: slurm_cases.scatter_under_a_submit_limit(),
        "pbs-submit": lambda: [pbs_cases.cli_submission(repeat)],
        "pbs-status": lambda: pbs_cases.status_of_proxies(repeat),
        "ssh-transports": lambda: ssh_cases.transports(repeat),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="runs per median [10]")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file [{RESULTS}]")
    parser.add_argument(
        "--case",
        action="append",
        choices=list(cases(0)),
        help="run only this case (repeatable) [all]",
    )
    options = parser.parse_args()
    chosen = cases(options.repeat)
    rows: list[Row] = []
    for name in options.case or list(chosen):
        start = time.perf_counter()
        print(f"benchmark: {name} ...", file=sys.stderr, flush=True)
        rows.extend(chosen[name]())
        print(f"benchmark: {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(table(rows))
    write_json(rows, options.json)
    print(f"\n(medians of {options.repeat} runs; JSON in {options.json})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
