"""``python -m benchmarks``: run the benchmarks, print the table, write JSON.

Needs the test cluster for the container, Slurm and SSH cases (``./dev bench`` brings it up).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import local_cases
from .report import table, write_json

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="runs per median [10]")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file [{RESULTS}]")
    options = parser.parse_args()
    images = Path(os.environ.get("PACKTIVITY_TEST_IMAGES", "/var/lib/packtivity-cluster/images"))
    rows = [
        local_cases.cli_start(options.repeat),
        local_cases.host_step(options.repeat),
        local_cases.container_overhead(options.repeat, images / "busybox.sif"),
    ]
    print(table(rows))
    write_json(rows, options.json)
    print(f"\n(medians of {options.repeat} runs; JSON in {options.json})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
