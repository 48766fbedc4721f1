"""``-b pbs`` on the test cluster's real OpenPBS 23.06.06 (server, scheduler and MoM on the host
pbs-head in a network namespace of their own; the commands run here, as every user's do).

The cases of ``-b slurm``: how each way a job ends is reported, many proxies in one check, a
yadage map, the server stopped while a step is waited for, and what PBS refuses.  The adapter's
parser is also checked on JSON recorded from this server (``tests/recorded/openpbs-23.06.json``).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN
from stepspecs import host_spec, write_spec

from packtivity.batch import scheduler as s
from packtivity.batch.pbs import PbsAdapter

HERE = Path(__file__).parent
OPENPBS = HERE / "cluster" / "openpbs"


def run(cli, tmp_path: Path, spec: dict, *args: str, timeout: float = 180):
    write_spec(tmp_path, "step.yml", spec)
    return cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "pbs", *args,
               timeout=timeout)  # fmt: skip


def check(cli, tmp_path: Path, *args: str, timeout: float = 180):
    return cli("packtivity-checkproxy", *args, cwd=tmp_path, timeout=timeout)


def qstat_json(job_id: str) -> dict:
    out = subprocess.run(["qstat", "-f", "-F", "json", "-x", job_id], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return json.loads(out)["Jobs"][job_id]


def until_file(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def until_state(job_id: str, letters: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = qstat_json(job_id)
        if job["job_state"] in letters:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


# ---- the parser, on what this server printed ------------------------------------------------


def test_parser_on_json_recorded_from_openpbs() -> None:
    """Each way a job ends, as OpenPBS 23.06.06 reported it (recorded on the test cluster
    with TZ=UTC, as the adapter runs qstat, by qsub of `exit 0`, `exit 3`, `sleep 120` with a
    5 s walltime, then qdel of a running and of a held job, and one unknown id): the states,
    and obittime as the end time."""
    recorded = (HERE / "recorded" / "openpbs-23.06.json").read_text()
    jobs = json.loads(recorded)["Jobs"]
    names = {job["Job_Name"]: job_id for job_id, job in jobs.items()}
    states = PbsAdapter().parse_status(list(jobs), 153, recorded, "qstat: Unknown Job Id 9.x")
    expected = {"ok": s.ENDED, "three": s.ENDED, "wall": s.TIMEOUT, "running": s.CANCELLED,
                "queued": s.CANCELLED}  # fmt: skip
    assert {name: states[names[name]].state for name in expected} == expected
    # obittime "Wed Dec  2 13:49:52 2026" (UTC): `date -u -d ... +%s` says 1796219392
    assert states[names["ok"]].ended_at == 1796219392.0
    assert jobs[names["running"]]["Exit_status"] == 0  # a qdel'd job's script may exit 0:
    assert jobs[names["queued"]].get("Exit_status") is None  # substate 91 tells the cancel


# ---- on the real server ------------------------------------------------------------------


def test_a_step_publishes_and_its_record_names_the_pbs_job(pbs, cli, tmp_path: Path) -> None:
    work = tmp_path / "w"
    r = run(cli, tmp_path, host_spec("hostname > {out}", {"out": "{out}"}), "-p",
            "out={workdir}/host.txt", "-w", str(work))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": f"{work}/host.txt"}
    assert (work / "host.txt").read_text() == "pbs-head\n"  # the job ran on the PBS head
    (record,) = [json.loads(p.read_text()) for p in (work / "_packtivity").glob("*.run.json")]
    assert record["batch_job_id"].endswith(".pbs-head") and record["exit_code"] == 0


def test_exit_3_is_failed_with_3_though_pbs_records_0(pbs, cli, tmp_path: Path) -> None:
    """PSI/J's script ends with ``echo $? > .ec``: PBS records Exit_status 0.  The run record
    has the command's 3, and the step's output ends the message."""
    work = tmp_path / "w"
    r = run(cli, tmp_path, host_spec("echo about to fail >&2; exit 3"), "-w", str(work))
    assert r.returncode == 1
    assert "failed with exit code 3" in r.stderr and "about to fail" in r.stderr, r.stderr
    (record,) = [json.loads(p.read_text()) for p in (work / "_packtivity").glob("*.run.json")]
    assert until_state(record["batch_job_id"], "F").get("Exit_status") == 0


def test_walltime_exceeded_is_timeout(pbs, cli, tmp_path: Path) -> None:
    r = run(cli, tmp_path, host_spec("sleep 600"), "--walltime", "0:0:10",
            "-w", str(tmp_path / "w"), timeout=240)  # fmt: skip
    assert r.returncode == 1
    assert "ran out of walltime" in r.stderr, r.stderr


@pytest.mark.parametrize("when", ["running", "queued"])
def test_cancel_is_cancelled_never_failed_or_succeeded(pbs, cli, tmp_path: Path, when: str) -> None:
    """qdel of a running job (substate 91, the script's own exit status) and of a queued one
    (substate 91, no Exit_status at all: PSI/J calls that COMPLETED).  A job is cancelled only
    once its command runs (PBS starts job scripts in the owner's login shell: a shell killed in
    the middle of root's profile can leave that profile's locks behind)."""
    blocker = ""
    if when == "queued":  # the node busy with a job of all its CPUs: the step stays queued
        ncpus = subprocess.run(["pbsnodes", "-a", "-F", "json"], capture_output=True, text=True,
                               check=True).stdout  # fmt: skip
        cpus = next(iter(json.loads(ncpus)["nodes"].values()))["resources_available"]["ncpus"]
        started = tmp_path / "blocker-started"
        blocker = subprocess.run(
            ["qsub", "-l", f"select=1:ncpus={cpus}", "-o", "/dev/null", "-e", "/dev/null", "--",
             "/bin/sh", "-c", f"touch {started}; sleep 300"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        until_file(started)
    try:
        r = run(cli, tmp_path, host_spec("touch {started}; sleep 300"), "--async",
                "-p", "started={workdir}/started", "-w", str(tmp_path / "w"))  # fmt: skip
        assert r.returncode == 0, r.stderr
        native_id = json.loads((tmp_path / "proxy.json").read_text())["proxydetails"]["native_id"]
        if when == "running":
            until_file(tmp_path / "w" / "started")
        else:
            time.sleep(2)  # a scheduling cycle: it stays queued
            assert qstat_json(native_id)["job_state"] == "Q"
        c = check(cli, tmp_path, "--cancel", "--wait", "proxy.json")
    finally:
        if blocker:
            subprocess.run(["qdel", blocker], capture_output=True)
    assert c.returncode == 1, (c.stdout, c.stderr)
    assert "status: cancelled" in c.stdout, c.stdout
    again = check(cli, tmp_path, "proxy.json")
    assert again.returncode == 1 and "status: cancelled" in again.stdout


def test_unknown_job_is_unknown(pbs, cli, tmp_path: Path) -> None:
    r = run(cli, tmp_path, host_spec("true"), "--async", "-w", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "proxy.json").read_text())
    proxy["proxydetails"]["native_id"] = "987654.pbs-head"
    proxy["proxydetails"]["record"] = str(tmp_path / "w" / "_packtivity" / "never.run.json")
    proxy["proxydetails"]["submitted"] = "2026-01-02T03:04:05+00:00"  # not just accepted
    (tmp_path / "unknown.json").write_text(json.dumps(proxy))
    c = check(cli, tmp_path, "unknown.json")
    assert c.returncode == 1
    assert "status: unknown" in c.stdout and "987654.pbs-head" in c.stdout


def test_fifty_proxies_and_an_unknown_one_cost_one_qstat(pbs, cli, tmp_path: Path) -> None:
    """qstat exits 153 when one id is unknown, and still prints the others: their states are
    not lost.  The PBS commands are counted by a wrapper that runs the real qstat."""
    from packtivity.batch.backend import BatchBackend
    from packtivity.statecontexts import LocalFSState

    backend = BatchBackend("pbs")
    names = []
    for i in range(50):
        state = LocalFSState([str(tmp_path / f"w{i}")])
        proxy = backend.submit(host_spec("sleep 2"), {}, state, {"name": f"s{i}"})
        (tmp_path / f"p{i}.json").write_text(json.dumps(proxy.json()))
        names.append(f"p{i}.json")
    unknown = json.loads((tmp_path / "p0.json").read_text())
    unknown["proxydetails"]["native_id"] = "987654.pbs-head"
    unknown["proxydetails"]["record"] = str(tmp_path / "never.run.json")
    unknown["proxydetails"]["submitted"] = "2026-01-02T03:04:05+00:00"  # not just accepted
    (tmp_path / "unknown.json").write_text(json.dumps(unknown))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for command in ("qstat", "qselect", "tracejob"):
        real = pbs.pbs_bin / command
        (bindir / command).write_text(
            f'#!/bin/sh\necho {command} >> {tmp_path}/calls.log\nexec {real} "$@"\n'
        )
        (bindir / command).chmod(0o755)
    c = subprocess.run(
        [str(BIN / "packtivity-checkproxy"), "--json", *names, "unknown.json"],
        cwd=tmp_path, env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    steps = json.loads(c.stdout)["steps"]
    statuses = [step["status"] for step in steps[:50]]
    assert set(statuses) <= {"pending", "running", "succeeded"}, statuses
    assert steps[50]["status"] == "unknown"
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls == ["qstat"], calls


def test_yadage_map_on_pbs(pbs, tmp_path: Path) -> None:
    items = list(range(1, 7))
    r = subprocess.run(
        [str(BIN / "yadage-run"), "-t", str(HERE / "workflows"), "work", "mapreduce.yml",
         "-b", "pbs", "-p", f"items={items}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text().strip() == str(
        sum(n * n for n in items)
    )
    records = list((tmp_path / "work").glob("map_*/_packtivity/*.run.json"))
    assert len(records) == len(items)
    assert all(json.loads(p.read_text())["batch_job_id"].endswith(".pbs-head") for p in records)


def test_wait_survives_the_server_stopped_for_20_s(pbs, cli, tmp_path: Path) -> None:
    """pbs_server is stopped (qterm, on the head) for 20 s while packtivity-run waits on a
    running job, which ends while the server is down; the cluster script starts it again.  The
    MoM keeps the job running and reports its end to the restarted server.  (The server is
    stopped only once it has the job as running, substate 42: a job it still had as starting,
    41, it requeues at its restart, and the MoM's copy is killed and run again.)"""
    write_spec(tmp_path, "step.yml", host_spec("sleep 25; echo survived > {out}", {"o": "{out}"}))
    waiting = subprocess.Popen(
        [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "pbs",
         "-p", "out={workdir}/o.txt", "-w", str(tmp_path / "w")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # this test's job, by its name (the job body's: <step>-<run id>)
            bodies = list((tmp_path / "w" / "_packtivity").glob("*.job.sh"))
            name = bodies[0].name.removesuffix(".job.sh") if bodies else ""
            running = ["qselect", "-s", "R", "-N", name]
            job_id = name and subprocess.run(running, capture_output=True, text=True).stdout.strip()
            if job_id:
                status = ["qstat", "-f", "-F", "json", job_id]
                job = json.loads(subprocess.run(status, capture_output=True, text=True).stdout)
                if job["Jobs"][job_id].get("substate") == 42:
                    break
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.3)
        subprocess.run(["bash", str(OPENPBS / "openpbs-up.sh"), "exec", "/opt/pbs/bin/qterm",
                        "-t", "quick"], check=True, capture_output=True, timeout=60)  # fmt: skip
        time.sleep(20)
        subprocess.run(["bash", str(OPENPBS / "openpbs-up.sh")], check=True,
                       capture_output=True, timeout=300,
                       env={**os.environ, "OPENPBS_ALLOW_ROOT": "1",
                            "OPENPBS_USER": pbs.ssh_user})  # fmt: skip
        out, err = waiting.communicate(timeout=240)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert json.loads(out) == {"o": f"{tmp_path}/w/o.txt"}
    assert (tmp_path / "w" / "o.txt").read_text() == "survived\n"


def test_more_cpus_than_the_node_has_is_one_line(pbs, cli, tmp_path: Path) -> None:
    """PBS refuses at qsub: its message, on one line, exit 2; nothing runs."""
    r = run(cli, tmp_path, host_spec("true"), "--cpus", "64", "-w", str(tmp_path / "w"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert errors == [
        "Error: pbs refused the job: qsub: Job violates queue and/or server resource limits"
    ], r.stderr
    assert "Traceback" not in r.stderr


def test_resources_reach_pbs_in_its_own_form(pbs, cli, tmp_path: Path) -> None:
    """--cpus 2 --memory 300M --walltime 0:05:00 --queue workq --account physics: what the
    server recorded for the job (held an hour with ``-a``: it never starts, and is deleted)."""
    later = (datetime.datetime.now() + datetime.timedelta(hours=1)).strftime("%Y%m%d%H%M")
    r = run(cli, tmp_path, host_spec("sleep 30"), "--async", "--cpus", "2", "--memory", "300M",
            "--walltime", "0:05:00", "--queue", "workq", "--account", "physics",
            "--scheduler-option", f"a={later}", "-w", str(tmp_path / "w"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    native_id = json.loads((tmp_path / "proxy.json").read_text())["proxydetails"]["native_id"]
    try:
        job = qstat_json(native_id)
        wanted = job["Resource_List"]
        assert (wanted["ncpus"], wanted["walltime"], job["queue"]) == (2, "00:05:00", "workq")
        assert wanted["mem"].lower() in ("300mb", "307200kb", "314572800b"), wanted
        assert job.get("Account_Name") == "physics" or job.get("project") == "physics", job
    finally:
        subprocess.run(["qdel", "-W", "force", native_id], capture_output=True)
