"""Trivial jobs through submitit, the way its users write it; run by submitit's own venv.

``python submitit_jobs.py FOLDER N`` submits N jobs that run ``true`` (one ``executor.submit``
each, like packtivity's one job per step), waits for every result, and prints the seconds from
the first submission to the last result as JSON.  On this test cluster Slurm keeps no
accounting, so submitit warns that ``sacct`` fails and decides from its result files.
"""

import json
import sys
import time

import submitit


def main() -> None:
    folder, count = sys.argv[1], int(sys.argv[2])
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(timeout_min=5)
    start = time.perf_counter()
    jobs = [executor.submit(submitit.helpers.CommandFunction(["true"])) for _ in range(count)]
    submitted = time.perf_counter()
    for job in jobs:
        job.result()
    done = time.perf_counter()
    print(json.dumps({"submit": submitted - start, "total": done - start}))


if __name__ == "__main__":
    main()
