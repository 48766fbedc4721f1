"""Cases on the test cluster's real OpenPBS, beside the Slurm ones: submission and the status
of many proxies, against raw ``qsub`` and one raw ``qstat``.

Jobs that only measure submission get an execution time an hour ahead (``qsub -a``: state W),
so nothing runs while they are timed; every job a case submits is deleted when it ends.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .report import Row
from .slurm_cases import BIN, TRIVIAL_SPEC, state_in
from .timing import median_seconds, run, run_measured, scratch


def _later() -> str:
    """``qsub -a`` form of an hour from now: [[CC]YY]MMDDhhmm."""
    return (datetime.datetime.now() + datetime.timedelta(hours=1)).strftime("%Y%m%d%H%M")


@contextmanager
def deleted_afterwards() -> Iterator[list[str]]:
    ids: list[str] = []
    try:
        yield ids
    finally:
        for start in range(0, len(ids), 200):
            subprocess.run(["qdel", "-W", "force", *ids[start : start + 200]], check=False,
                           capture_output=True)  # fmt: skip


def pbs_backend(**options: Any) -> Any:
    from packtivity.batch.backend import BatchBackend

    return BatchBackend("pbs", **options)


def cli_submission(repeat: int) -> Row:
    """``packtivity-run -b pbs --async`` of a trivial step against ``qsub`` of a script."""
    later = _later()
    with scratch("pbs-cli-submit") as directory, deleted_afterwards() as ids:
        (directory / "true.yml").write_text(json.dumps(TRIVIAL_SPEC))
        script = directory / "raw.sh"
        script.write_text("#!/bin/sh\ntrue\n")
        counter = iter(range(10**6))

        def ours() -> None:
            n = next(counter)
            proxy = directory / f"p{n}.json"
            run([str(BIN / "packtivity-run"), "-b", "pbs", "--async",
                 "--scheduler-option", f"a={later}", "-t", str(directory), "true.yml",
                 "-w", str(directory / f"w{n}"), "-x", str(proxy)])  # fmt: skip
            ids.append(json.loads(proxy.read_text())["proxydetails"]["native_id"])

        def raw() -> None:
            argv = ["qsub", "-a", later, "-o", "/dev/null", "-e", "/dev/null", str(script)]
            ids.append(run(argv).stdout.strip())

        theirs = median_seconds(raw, repeat)
        mine = median_seconds(ours, repeat)
    return Row(
        "`packtivity-run -b pbs --async`, a trivial step (OpenPBS)", mine, "`qsub` of a script",
        theirs, "-", None,
        note="one CLI process per submission: starting Python is most of the difference",
    )  # fmt: skip


def status_of_proxies(repeat: int, counts: tuple[int, ...] = (1, 100)) -> list[Row]:
    """``packtivity-checkproxy`` of 1 and 100 proxies of waiting PBS jobs: wall time, peak
    memory and PBS commands, against one raw ``qstat -f -F json -x`` of the same jobs."""
    rows = []
    with scratch("pbs-status") as directory, deleted_afterwards() as ids:
        backend = pbs_backend(scheduler_option=(f"a={_later()}",))
        paths = []
        for i in range(max(counts)):
            proxy = backend.submit(TRIVIAL_SPEC, {}, state_in(directory, f"w{i}"), {"name": "s"})
            ids.append(proxy.native_id)
            paths.append(directory / f"p{i}.json")
            paths[-1].write_text(json.dumps(proxy.json()))
        bindir = directory / "bin"
        bindir.mkdir()
        log = bindir / "calls.log"
        real = subprocess.run(["sh", "-c", "command -v qstat"], capture_output=True, text=True)
        (bindir / "qstat").write_text(
            f'#!/bin/sh\necho qstat >>{log}\nexec {real.stdout.strip()} "$@"\n'
        )
        (bindir / "qstat").chmod(0o755)
        env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
        for count in counts:
            walls, peaks, calls = [], [], 0
            for _ in range(repeat):
                log.write_text("")
                wall, peak, code = run_measured(
                    [str(BIN / "packtivity-checkproxy"), *map(str, paths[:count])], env
                )
                if code not in (0, 1):
                    raise RuntimeError(f"packtivity-checkproxy failed ({code})")
                walls.append(wall)
                peaks.append(peak)
                calls = max(calls, len(log.read_text().split()))
            qstat = ["qstat", "-f", "-F", "json", "-x", *ids[:count]]
            raw = median_seconds(lambda: run(qstat), repeat)  # noqa: B023
            wall, peak = statistics.median(walls), max(peaks)
            rows.append(
                Row(
                    f"`packtivity-checkproxy` of {count} waiting PBS proxies (OpenPBS)",
                    wall,
                    "one `qstat -f -F json -x` of those jobs",
                    raw,
                    "under 2 s, 60 MiB, 2 scheduler commands",
                    wall < 2.0 and peak < 60 and calls <= 2,
                    note=f"peak {peak:.0f} MiB; qstat runs: {calls}",
                )  # fmt: skip
            )
    return rows
