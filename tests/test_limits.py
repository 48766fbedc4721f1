"""A production cluster's limits, on the test cluster's real Slurm: slurmdbd accounting with
its associations enforced, a QOS submit limit set with ``sacctmgr``, memory enforced by cgroups,
and a run record that shows late on the shared storage (or never).

Each test that sets a limit clears it again (and ``tests/cluster/cluster up`` clears them all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import BIN
from stepspecs import host_spec, write_spec

HERE = Path(__file__).parent
SQUARES_1_TO_30 = sum(n * n for n in range(1, 31))


def sacctmgr(*args: str) -> None:
    subprocess.run(["sacctmgr", "-i", "-Q", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def qos_submit_limit(slurm):
    """QOS normal (root's and the ssh user's) allows 5 submitted jobs per user, for this test."""
    sacctmgr("modify", "qos", "normal", "set", "MaxSubmitJobsPerUser=5")
    try:
        yield 5
    finally:
        sacctmgr("modify", "qos", "normal", "set", "MaxSubmitJobsPerUser=-1")


class QueueSampler:
    """Counts this user's pending and running jobs (``squeue``) every 0.2 s, in a thread.

    With ``records`` (a work directory), a job whose run record is there is not counted: its
    command has ended, and the scheduler lists it a moment longer while the job winds down
    (that moment is not a queue slot: packtivity counts a job as ended when either says so).
    """

    def __init__(self, records: Path | None = None) -> None:
        self.records = records
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(
                ["squeue", "-h", "--me", "-t", "PENDING,RUNNING", "-o", "%j"],
                capture_output=True,
                text=True,
            ).stdout
            names = out.split()
            if self.records is not None:
                ended = {
                    p.name.removesuffix(".run.json") for p in self.records.glob("**/*.run.json")
                }
                names = [name for name in names if name not in ended]
            self.most = max(self.most, len(names))
            self.samples += 1
            time.sleep(0.2)

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def yadage_map(tmp_path: Path, items: int, *options: str) -> subprocess.CompletedProcess:
    """yadage-run of the map/reduce workflow over 1..``items`` with ``-b slurm``."""
    return subprocess.run(
        [
            str(BIN / "yadage-run"),
            "-t",
            str(HERE / "workflows"),
            "work",
            "mapreduce.yml",
            "-b",
            "slurm",
            *options,
            "-p",
            f"items={list(range(1, items + 1))}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_qos_submit_limit_holds_submissions_and_fails_no_step(
    qos_submit_limit: int, tmp_path: Path
) -> None:
    """A yadage map over 30 items, no queue_size: sbatch refuses the 6th job
    (QOSMaxSubmitJobPerUserLimit); packtivity holds it until one of its jobs ends, and all 30
    succeed with never more than 5 in the queue."""
    with QueueSampler() as sampler:
        r = yadage_map(tmp_path, 30)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text().strip() == str(SQUARES_1_TO_30)
    assert len(list((tmp_path / "work").glob("map_*/squared.txt"))) == 30
    assert sampler.samples > 10 and 1 <= sampler.most <= qos_submit_limit
    assert "refused for a limit" in r.stderr and "QOSMaxSubmitJobPerUserLimit" in r.stderr


def test_queue_size_from_yadage_keeps_that_many_in_the_queue(slurm, tmp_path: Path) -> None:
    """``-k queue_size=3``: the other submissions wait in the process; none is refused."""
    with QueueSampler(records=tmp_path / "work") as sampler:
        r = yadage_map(tmp_path, 12, "-k", "queue_size=3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text().strip() == str(
        sum(n * n for n in range(1, 13))
    )
    assert 1 <= sampler.most <= 3
    assert "refused" not in r.stderr


def test_a_job_past_its_memory_ends_out_of_memory(slurm, cli, tmp_path: Path) -> None:
    """cgroup v1 memory enforcement (task/cgroup, ConstrainRAMSpace): 200 MB in a 50 MB job."""
    spec = host_spec(f"{sys.executable} -c 'x = bytearray(200 * 1024 * 1024)'")
    write_spec(tmp_path, "step.yml", spec)
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-b",
        "slurm",
        "--memory",
        "50M",
        "-w",
        str(tmp_path / "w"),
        timeout=180,
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "ran out of memory (OUT_OF_MEMORY)" in r.stderr


# ---- a run record that the shared storage shows late, or never -----------------------------


def submitted_and_ended(
    cli, tmp_path: Path, config: str = "", leave_queue: bool = True
) -> tuple[dict, Path]:
    """An --async step that succeeded (and left the queue), with its run record hidden (as a
    shared file system that has not shown it yet); the proxy and the hidden record."""
    write_spec(tmp_path, "step.yml", host_spec("echo done"))
    env = {}
    if config:
        (tmp_path / "config.yml").write_text(config)
        env["PACKTIVITY_CONFIG"] = str(tmp_path / "config.yml")
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-b",
        "slurm",
        "--async",
        "-w",
        str(tmp_path / "w"),
        env=env,
    )
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "proxy.json").read_text())["proxydetails"]
    record = Path(proxy["record"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not record.exists():
        time.sleep(0.2)
    hidden = record.with_name(record.name + ".not-visible-yet")
    record.rename(hidden)
    deadline = time.monotonic() + (120 if leave_queue else 0)
    while time.monotonic() < deadline:  # wait until squeue forgets it (MinJobAge)
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", proxy["native_id"], "-o", "%i"],
            capture_output=True,
            text=True,
        ).stdout
        if proxy["native_id"] not in out:
            break
        time.sleep(1)
    return proxy, hidden


def checked(cli, tmp_path: Path, env: dict | None = None) -> dict:
    r = cli("packtivity-checkproxy", "--json", "proxy.json", cwd=tmp_path, env=env)
    return json.loads(r.stdout)["steps"][0]


def test_a_run_record_that_shows_late_is_a_success(slurm, cli, tmp_path: Path) -> None:
    proxy, hidden = submitted_and_ended(cli, tmp_path)
    step = checked(cli, tmp_path)
    assert (step["status"], step["finished"]) == ("ending", False), step
    assert "its run record is not visible yet" in step["message"]
    hidden.rename(proxy["record"])  # the shared storage shows it now
    step = checked(cli, tmp_path)
    assert (step["status"], step["succeeded"]) == ("succeeded", True), step


def test_a_run_record_that_never_shows_fails_after_the_grace_period(
    slurm, cli, tmp_path: Path
) -> None:
    """record_grace: 15 (seconds) in the config file; counted from the job's end as the
    scheduler gives it (squeue %e, sacct End), so a new process does not start the wait over."""
    proxy, _ = submitted_and_ended(cli, tmp_path, config="record_grace: 15\n", leave_queue=False)
    env = {"PACKTIVITY_CONFIG": str(tmp_path / "config.yml")}
    deadline, end = time.monotonic() + 60, ""
    while time.monotonic() < deadline:  # the job's end as squeue gives it
        end = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", proxy["native_id"], "-o", "%T %e"],
            capture_output=True,
            text=True,
            env={**os.environ, "SLURM_TIME_FORMAT": "%s"},
        ).stdout.strip()
        if end.startswith("COMPLETED "):
            break
        time.sleep(0.2)
    end = end.split()[-1]
    left = int(end) + 15 - time.time()
    if left > 1:
        step = checked(cli, tmp_path, env)
        assert step["status"] == "ending", step
        time.sleep(left + 1)
    step = checked(cli, tmp_path, env)
    assert (step["status"], step["finished"], step["succeeded"]) == ("failed", True, False), step
    assert "without writing its run record" in step["message"]


# ---- a step that waits for a queue slot ------------------------------------------------------

WAITING_SUBMITTER = """
import json, sys
from packtivity.batch.backend import BatchBackend
from packtivity.statecontexts import LocalFSState

work = sys.argv[1]
backend = BatchBackend("slurm", queue_size=1)
def spec(cmd):
    return {"process": {"process_type": "string-interpolated-cmd", "cmd": cmd},
            "environment": {"environment_type": "localproc-env"},
            "publisher": {"publisher_type": "interpolated-pub", "publish": {}}}
first = backend.submit(spec("sleep 60"), {}, LocalFSState([work + "/a"]), {"name": "first"})
second = backend.submit(spec("true"), {}, LocalFSState([work + "/b"]), {"name": "second"})
open(work + "/first.json", "w").write(json.dumps(first.json()))
open(work + "/second.json", "w").write(json.dumps(second.json()))
print(first.native_id, flush=True)
sys.stdin.readline()  # until the test says to end
"""


def test_a_step_waiting_for_a_queue_slot_says_so_and_is_never_lost(
    slurm, cli, tmp_path: Path
) -> None:
    """queue_size=1, two steps: the second waits in the process.  Its saved proxy says
    "waiting for a queue slot" while that process runs, and "never submitted" once it has
    ended -- never succeeded, never silently gone."""
    (tmp_path / "submit.py").write_text(WAITING_SUBMITTER)
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "submit.py"), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    first = ""
    try:
        first = (process.stdout.readline() if process.stdout else "").strip()
        assert first.isdigit(), "the first step was not submitted at once"
        saved = json.loads((tmp_path / "second.json").read_text())["proxydetails"]
        assert saved["native_id"] is None and saved["submitter"]["pid"] == process.pid
        r = cli("packtivity-checkproxy", "--json", "second.json", cwd=tmp_path)
        step = json.loads(r.stdout)["steps"][0]
        assert (step["status"], step["finished"]) == ("pending", False), step
        assert f"waiting for a queue slot in process {process.pid}" in step["message"]
        assert r.returncode == 0
    finally:
        if process.stdin:
            process.stdin.write("\n")
            process.stdin.close()
        process.wait(timeout=60)
        if first:
            subprocess.run(["scancel", first], capture_output=True)
    r = cli("packtivity-checkproxy", "--json", "second.json", cwd=tmp_path)
    step = json.loads(r.stdout)["steps"][0]
    assert (step["status"], step["finished"], step["succeeded"]) == (
        "not_submitted",
        True,
        False,
    ), step
    assert "was never submitted" in step["message"] and r.returncode == 1
