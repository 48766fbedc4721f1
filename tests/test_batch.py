"""Batch backends on the test cluster's real Slurm (``-b slurm``), PSI/J's local executor
(``-b local``) and its real OpenPBS (``-b pbs``; the PBS-only cases are in test_pbs.py).

Every test submits real jobs and checks them from new processes (``packtivity-checkproxy``),
the way a user does.  Parsers of scheduler output are also tested on recorded output.
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
from stepspecs import container_spec, host_spec, write_spec

from packtivity.batch import scheduler as s
from packtivity.batch.pbs import PbsAdapter
from packtivity.batch.slurm import SlurmAdapter
from packtivity.outcome import decide
from packtivity.runrecord import RunRecord

HERE = Path(__file__).parent


def run(cli, tmp_path: Path, spec: dict, *args: str, env: dict | None = None, timeout=180):
    write_spec(tmp_path, "step.yml", spec)
    return cli("packtivity-run", "-t", str(tmp_path), "step.yml", *args, env=env, timeout=timeout)


def check(cli, tmp_path: Path, *args: str, timeout=180):
    return cli("packtivity-checkproxy", *args, cwd=tmp_path, timeout=timeout)


def start_waiting_run(tmp_path: Path, *args: str, backend: str = "slurm") -> subprocess.Popen:
    """``packtivity-run -b BACKEND`` of ``tmp_path/step.yml`` in ``tmp_path/w``, left waiting."""
    return subprocess.Popen(
        [
            str(BIN / "packtivity-run"),
            "-t",
            str(tmp_path),
            "step.yml",
            "-b",
            backend,
            *args,
            "-w",
            str(tmp_path / "w"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread's stack
        preexec_fn=_ctrl_c_acts,
    )


def _ctrl_c_acts() -> None:
    """In the child, before exec: SIGINT back to its default.  A shell starts background jobs
    (``./dev test &``) with SIGINT ignored; children inherit that, and Python then installs no
    KeyboardInterrupt: the Ctrl-C test hung in exactly such a run."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def communicate_or_dump(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """``communicate``; a process that does not end in time is aborted and the test fails with
    the stacks of all its threads (what it was stuck in), not just "timed out"."""
    import signal

    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        _, err = process.communicate(timeout=30)
        pytest.fail(f"{process.args[0]} did not end within {timeout} s; its threads:\n{err}")


def gone_from_queue(job_id: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-t", "all", "-o", "%i"], capture_output=True, text=True
        )
        if job_id not in out.stdout:
            return
        time.sleep(1)
    pytest.fail(f"job {job_id} stayed in squeue for {timeout} s")


# ---- parsers, on recorded output --------------------------------------------------------


def test_slurm_parsers_on_recorded_output() -> None:
    adapter = SlurmAdapter()
    queue = adapter.parse_status(
        ["7", "8", "9"], 0, "7|RUNNING|None\n8|PENDING|Resources\n9|TIMEOUT|TimeLimit\n", ""
    )
    assert [queue[i].state for i in "789"] == [s.RUNNING, s.PENDING, s.TIMEOUT]
    assert (
        adapter.parse_status(["5"], 1, "", "slurm_load_jobs error: Invalid job id specified") == {}
    )
    with pytest.raises(s.TransientSchedulerError):
        adapter.parse_status(["5"], 1, "", "squeue: error: Socket timed out on send/recv")
    accounting = adapter.parse_accounting(
        0, "5|CANCELLED by 0\n5.batch|CANCELLED\n6|OUT_OF_MEMORY\n", ""
    )
    assert accounting["5"].state == s.CANCELLED and accounting["6"].state == s.OUT_OF_MEMORY
    assert "5.batch" not in accounting


def test_pbs_parser_on_recorded_qstat_json() -> None:
    """Shaped like PBS Pro 2022's ``qstat -f -F json -x`` (F = finished, Exit_status)."""
    recorded = {
        "timestamp": 1700000000,
        "pbs_version": "2022.1.1",
        "Jobs": {
            "1.server": {"job_state": "R"},
            "2.server": {"job_state": "F", "Exit_status": 0},
            "3.server": {"job_state": "F", "Exit_status": -29, "comment": "walltime exceeded"},
            "4.server": {"job_state": "F", "Exit_status": 271},
            "5.server": {"job_state": "Q"},
        },
    }
    ids = [f"{i}.server" for i in range(1, 6)]
    states = PbsAdapter().parse_status(ids, 0, json.dumps(recorded), "")
    assert [states[i].state for i in ids] == [s.RUNNING, s.ENDED, s.TIMEOUT, s.CANCELLED, s.PENDING]
    assert PbsAdapter().parse_status(["9.server"], 153, "", "qstat: Unknown Job Id 9.server") == {}


def _record(exit_code: int, signal: str | None = None) -> RunRecord:
    return RunRecord(
        "step",
        exit_code,
        signal,
        "t0",
        "t1",
        "node1",
        "/w",
        "sh -c x",
        False,
        None,
        None,
        None,
        "7",
    )


def test_outcome_rules() -> None:
    ended = s.SchedulerState(s.ENDED, "COMPLETED")
    assert decide("job", _record(0), ended).status == "succeeded"
    assert decide("job", _record(3), ended).exit_code == 3
    # Slurm says COMPLETED for a PSI/J job whose command failed: the record wins
    assert decide("job", _record(3), ended).status == "failed"
    # the scheduler's imposed ends win over an exit code of 0
    assert decide("job", _record(0), s.SchedulerState(s.TIMEOUT, "TIMEOUT")).status == "timeout"
    assert decide("job", None, s.SchedulerState(s.CANCELLED)).status == "cancelled"
    assert decide("job", None, s.SchedulerState(s.RUNNING)).status == "running"
    assert decide("job", None, ended).status == "failed"  # ended without a record
    assert decide("job", None, None).status == "unknown"  # never success
    assert decide("job", _record(0), None).status == "succeeded"  # purged, record stays


# ---- real jobs -----------------------------------------------------------------------


def busybox_step(cluster, cmd: str, publish: dict | None = None) -> dict:
    return container_spec(
        str(cluster.image("busybox")),
        {"process_type": "string-interpolated-cmd", "cmd": cmd},
        publish,
    )


@pytest.mark.parametrize("backend", ["slurm", "local", "pbs"])
def test_container_step_publishes_through_the_batch_backend(
    slurm, apptainer, cli, tmp_path: Path, backend: str
) -> None:
    spec = busybox_step(apptainer, "echo $PACKTIVITY_TEST_IMAGE {word} > {out}", {"out": "{out}"})
    work = tmp_path / "w"
    r = run(
        cli,
        tmp_path,
        spec,
        "-b",
        backend,
        "-p",
        "word=batch",
        "-p",
        "out={workdir}/o.txt",
        "-w",
        str(work),
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": f"{work}/o.txt"}
    assert (work / "o.txt").read_text() == "busybox batch\n"
    (record_path,) = (work / "_packtivity").glob("*.run.json")
    record = json.loads(record_path.read_text())
    assert record["exit_code"] == 0 and record["runtime"] == "apptainer"
    if backend != "local":
        assert record["batch_job_id"]  # ran inside a Slurm allocation
    assert f"{backend} job" in r.stderr and "succeeded" in r.stderr


@pytest.mark.parametrize("backend", ["slurm", "local", "pbs"])
def test_exit_3_fails_with_3_and_the_stderr_tail(slurm, cli, tmp_path: Path, backend: str) -> None:
    spec = host_spec("echo about to fail >&2; exit 3")
    r = run(cli, tmp_path, spec, "-b", backend, "-w", str(tmp_path / "w"))
    assert r.returncode == 1
    assert "failed with exit code 3" in r.stderr and "about to fail" in r.stderr
    assert "Traceback" not in r.stderr


def test_async_proxy_checked_after_the_job_left_the_queue_twice(
    slurm, apptainer, cli, tmp_path: Path
) -> None:
    spec = busybox_step(apptainer, "echo done > {out}", {"out": "{out}"})
    r = run(
        cli,
        tmp_path,
        spec,
        "-b",
        "slurm",
        "--async",
        "-x",
        "p.json",
        "-p",
        "out={workdir}/o.txt",
        "-w",
        str(tmp_path / "w"),
    )
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "p.json").read_text())
    assert proxy["proxyname"] == "BatchProxy"
    details = proxy["proxydetails"]
    assert details["backend"] == "slurm" and details["native_id"].isdigit()
    assert {"spec", "parameters", "state", "submitted", "packtivity_version"} <= set(details)
    gone_from_queue(details["native_id"])  # MinJobAge=10 on the test cluster
    for _ in range(2):
        c = check(cli, tmp_path, "--json", "p.json", "-o", "res.json")
        assert c.returncode == 0, c.stderr
        (report,) = json.loads(c.stdout)["steps"]
        assert report["status"] == "succeeded" and report["result"] == {
            "out": f"{tmp_path}/w/o.txt"
        }


def test_cancelled_job_is_reported_cancelled(slurm, cli, tmp_path: Path) -> None:
    r = run(
        cli, tmp_path, host_spec("sleep 300"), "-b", "slurm", "--async", "-w", str(tmp_path / "w")
    )
    assert r.returncode == 0, r.stderr
    c = check(cli, tmp_path, "--cancel", "--wait", "proxy.json")
    assert c.returncode == 1
    assert "status: cancelled" in c.stdout and "was cancelled" in c.stdout
    again = check(cli, tmp_path, "proxy.json")
    assert again.returncode == 1 and "status: cancelled" in again.stdout


def test_walltime_exceeded_is_reported_as_timeout(slurm, cli, tmp_path: Path) -> None:
    """Slurm enforces limits in whole minutes: this test waits about a minute."""
    r = run(
        cli,
        tmp_path,
        host_spec("sleep 600"),
        "-b",
        "slurm",
        "--walltime",
        "0:0:10",
        "-w",
        str(tmp_path / "w"),
        timeout=240,
    )
    assert r.returncode == 1
    assert "ran out of walltime" in r.stderr and "TIMEOUT" in r.stderr


def test_unknown_job_is_unknown_and_exit_1(slurm, cli, tmp_path: Path) -> None:
    r = run(cli, tmp_path, host_spec("true"), "-b", "slurm", "--async", "-w", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "proxy.json").read_text())
    proxy["proxydetails"]["native_id"] = "987654"
    proxy["proxydetails"]["record"] = str(tmp_path / "w" / "_packtivity" / "never.run.json")
    fresh = dict(proxy, proxydetails=dict(proxy["proxydetails"]))
    proxy["proxydetails"]["submitted"] = "2026-01-02T03:04:05+00:00"  # long ago: purged, or lost
    (tmp_path / "unknown.json").write_text(json.dumps(proxy))
    c = check(cli, tmp_path, "unknown.json")
    assert c.returncode == 1
    assert "status: unknown" in c.stdout and "987654" in c.stdout
    # accepted a moment ago (the proxy says), unknown now: the scheduler's turbulence (a
    # controller answering while it recovers), not a verdict yet -- the record's grace period
    (tmp_path / "fresh.json").write_text(json.dumps(fresh))
    c = check(cli, tmp_path, "fresh.json")
    assert c.returncode == 0 and "status: ending" in c.stdout, c.stdout
    assert "not in the queue nor in the scheduler's accounting just now" in c.stdout


def test_fifty_proxies_cost_one_or_two_status_commands(slurm, cli, tmp_path: Path) -> None:
    """The scheduler commands are counted by wrappers on PATH that log each call and then run
    the real squeue/sacct (the answers are the real ones)."""
    from packtivity.batch.backend import BatchBackend
    from packtivity.statecontexts import LocalFSState

    backend = BatchBackend("slurm")
    ids = []
    for i in range(50):
        state = LocalFSState([str(tmp_path / f"w{i}")])
        proxy = backend.submit(host_spec("sleep 2"), {}, state, {"name": f"s{i}"})
        (tmp_path / f"p{i}.json").write_text(json.dumps(proxy.json()))
        ids.append(proxy.native_id)
    try:
        bindir = tmp_path / "bin"
        bindir.mkdir()
        for command in ("squeue", "sacct", "scontrol", "qstat"):
            real = subprocess.run(
                ["sh", "-c", f"command -v {command}"], capture_output=True, text=True
            ).stdout.strip()
            wrapper = bindir / command
            wrapper.write_text(
                f'#!/bin/sh\necho {command} >> {tmp_path}/calls.log\nexec {real} "$@"\n'
            )
            wrapper.chmod(0o755)
        env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
        c = subprocess.run(
            [str(BIN / "packtivity-checkproxy"), "--json", *[f"p{i}.json" for i in range(50)]],
            cwd=tmp_path,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert c.returncode == 0, c.stderr
        report = json.loads(c.stdout)
        assert report["format"] == "packtivity-checkproxy/1"
        assert [step["proxy"] for step in report["steps"]] == [f"p{i}.json" for i in range(50)]
        calls = (tmp_path / "calls.log").read_text().split()
        assert 1 <= len(calls) <= 2, calls
    finally:
        subprocess.run(["scancel", *ids], capture_output=True)


def test_yadage_map_over_items_on_slurm(slurm, apptainer, tmp_path: Path, monkeypatch) -> None:
    image_map = tmp_path / "images.yml"
    image_map.write_text(
        f"busybox:1.36: {apptainer.image('busybox')}\n"
        f"python:3.11-slim: {apptainer.image('python')}\n"
    )
    monkeypatch.setenv("PACKTIVITY_APPTAINER_IMAGE_MAP", str(image_map))
    r = subprocess.run(
        [
            str(BIN / "yadage-run"),
            "-t",
            str(HERE / "workflows"),
            "work",
            "containers.yml",
            "-b",
            "slurm",
            "-p",
            "items=[1, 2, 3, 4]",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text() == "30\n"
    records = list((tmp_path / "work").glob("map_*/_packtivity/*.run.json"))
    assert len(records) == 4
    assert all(json.loads(p.read_text())["batch_job_id"] for p in records)


def test_wait_survives_a_controller_outage(slurm, cli, tmp_path: Path) -> None:
    """slurmctld is stopped for 20 s while packtivity-run waits on a running job (the cluster
    script stops only the slurmctld it started, by its PID file, and starts it again)."""
    slurm_sh = HERE / "cluster" / "slurm.sh"
    write_spec(tmp_path, "step.yml", host_spec("sleep 25; echo survived > {out}", {"o": "{out}"}))
    waiting = start_waiting_run(tmp_path, "-p", "out={workdir}/o.txt")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = subprocess.run(  # this test's job: its directory is in tmp_path
                ["squeue", "-h", "-t", "R", "-o", "%i %Z"], capture_output=True, text=True
            ).stdout
            if str(tmp_path) in running:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the job never ran: stopping the controller would test nothing")
        stopped_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        subprocess.run(["bash", str(slurm_sh), "ctld-stop"], check=True, capture_output=True)
        time.sleep(20)
        subprocess.run(
            ["bash", str(slurm_sh), "start"], check=True, capture_output=True, timeout=120
        )
        out, err = waiting.communicate(timeout=180)
    finally:
        if waiting.poll() is None:
            waiting.kill()
        subprocess.run(["bash", str(slurm_sh), "start"], capture_output=True, timeout=120)
    assert waiting.returncode == 0, err
    assert json.loads(out) == {"o": f"{tmp_path}/w/o.txt"}
    assert (tmp_path / "w" / "o.txt").read_text() == "survived\n"
    (record,) = [
        json.loads(p.read_text()) for p in (tmp_path / "w" / "_packtivity").glob("*.run.json")
    ]
    # UTC ISO 8601 to the second: comparable as text
    assert record["start"] <= stopped_at <= record["end"], "the job did not run through the outage"


# ---- resources and options -------------------------------------------------------------


def test_resources_config_profile_spec_and_flags_later_wins(tmp_path: Path, monkeypatch) -> None:
    from packtivity.batch.backend import BatchBackend

    config = tmp_path / "config.yml"
    config.write_text(
        "queue: debug\nwalltime: '1:00:00'\ndefault_profile: atlas\n"
        "profiles:\n  atlas: {account: atlas-prj, walltime: '12:00:00'}\n  gpu: {gpus: 1}\n"
    )
    monkeypatch.setenv("PACKTIVITY_CONFIG", str(config))
    environment = {"resources": ["CVMFS", {"cpus": 4}, {"slurm_partition": "long"}]}
    resources = BatchBackend("slurm", memory="2G").resources(environment)
    assert (resources.queue, resources.account, resources.walltime) == (
        "long",
        "atlas-prj",
        "12:00:00",
    )
    assert resources.cpus == 4 and resources.memory_bytes() == 2 * 1024**3
    assert BatchBackend("slurm", profile="gpu", cpus=2).resources(environment).cpus == 2
    assert BatchBackend("slurm", profile="gpu").resources(None).gpus == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cpu": 2}, "unknown option(s) cpu for -b slurm"),
        ({"walltime": "soon"}, "walltime 'soon' is not"),
        ({"memory": "lots"}, "memory 'lots' is not"),
        ({"cpus": "0"}, "must be a positive integer"),
        ({"profile": "nope"}, "profile 'nope'"),
    ],
)
def test_bad_batch_options_are_one_clear_error(
    tmp_path: Path, monkeypatch, options: dict, message: str
) -> None:
    from packtivity.backendutils import backend_from_string
    from packtivity.errors import BackendError

    monkeypatch.setenv("PACKTIVITY_CONFIG", str(tmp_path / "none.yml"))
    with pytest.raises(BackendError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backend_from_string("slurm", options)


def test_unknown_spec_resource_lists_the_known(cli, tmp_path: Path) -> None:
    from conftest import assert_one_line_error

    spec = host_spec("true")
    spec["environment"] = {
        "environment_type": "docker-encapsulated",
        "image": "/x.sif",
        "resources": [{"cpu": 2}],
    }
    r = run(cli, tmp_path, spec, "-b", "local", "-w", str(tmp_path / "w"))
    assert r.returncode == 2
    assert_one_line_error(r, "unknown resource 'cpu'", "cpus", "slurm_partition")


def test_reana_resources_are_understood_or_ignored(caplog) -> None:
    """REANA's resource lists (kubernetes_*, htcondor_*, compute_backend, ...) are valid specs:
    what applies is used, the rest is said at INFO and ignored; a misspelling of ours is not.
    Before the fix: 'unknown resource 'kubernetes_memory_limit' in the spec's resources'."""
    import logging

    from packtivity.batch.resources import Resources, from_spec
    from packtivity.errors import BackendError

    environment = {
        "resources": [
            {"kubernetes_memory_limit": "64Mi"},
            {"kubernetes_uid": 500},
            {"compute_backend": "htcondorcern"},
            {"htcondor_max_runtime": "espresso"},
            {"htcondor_accounting_group": "group_u_ATLAS"},
            {"unpacked_img": True},
            {"voms_proxy": True},
            {"rucio": True},
            {"c4p_cpu_cores": 2},
            {"kerberos": False},
            {"slurm_partition": "long"},
            {"slurm_time": "60"},
            "CVMFS",
        ]
    }
    with caplog.at_level(logging.INFO, logger="packtivity.batch.resources"):
        resources = Resources().merged(from_spec(environment), "the spec's resources")
    assert (resources.queue, resources.walltime) == ("long", "60")
    assert resources.memory_bytes() == 64 * 1024**2
    ignored = caplog.text
    for name in ("kubernetes_uid", "compute_backend", "htcondor_max_runtime", "voms_proxy"):
        assert f"ignoring resource {name}=" in ignored
    # the spec's own memory wins over the Kubernetes limit
    both = {"resources": [{"kubernetes_memory_limit": "64Mi"}, {"memory": "1G"}]}
    assert Resources().merged(from_spec(both), "spec").memory_bytes() == 1024**3
    with pytest.raises(BackendError, match="unknown resource 'slurm_partiton'"):
        Resources().merged(from_spec({"resources": [{"slurm_partiton": "x"}]}), "spec")


def test_reana_spec_shows_a_slurm_script_unedited(cli, tmp_path: Path) -> None:
    """A step with the resources of REANA's ATLAS RECAST demo (reanahub/reana-demo-atlas-recast,
    workflow/steps.yml and steps-htcondorcern.yml) gives a Slurm script: 64Mi from
    kubernetes_memory_limit, the rest ignored."""
    spec = host_spec("echo {dxaod_file} > recast_inputs.txt")
    spec["environment"] = {
        "environment_type": "docker-encapsulated",
        "resources": [
            {"kubernetes_memory_limit": "64Mi"},
            {"kubernetes_uid": 500},
            {"compute_backend": "htcondorcern"},
        ],
    }
    spec["environment"]["image"] = str(tmp_path / "x.sif")
    (tmp_path / "x.sif").write_bytes(b"not really an image: nothing runs")
    r = run(
        cli,
        tmp_path,
        spec,
        "-b",
        "slurm",
        "--show-script",
        "-v",
        "INFO",
        "-p",
        "dxaod_file=https://example.org/recast/signal.root",
        "-w",
        str(tmp_path / "w"),
    )
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --mem=65536K" in r.stdout  # 64 MiB
    assert "ignoring resource kubernetes_uid=500" in r.stderr


def test_batch_flags_need_a_batch_backend(cli, tmp_path: Path) -> None:
    from conftest import assert_one_line_error

    r = run(cli, tmp_path, host_spec("true"), "--cpus", "2", "-w", str(tmp_path / "w"))
    assert r.returncode == 2
    assert_one_line_error(r, "--cpus", "only for the batch backends")


def interrupt_a_waiting_run(tmp_path: Path, backend: str, started: str) -> None:
    """Start ``packtivity-run -b BACKEND -x saved.json`` of a long step, wait until ``started``
    (a glob below ``tmp_path``) exists, press Ctrl-C: exit 130, the job left running and the
    message saying how to check it."""
    import signal

    write_spec(tmp_path, "step.yml", host_spec("sleep 60"))
    waiting = start_waiting_run(tmp_path, "-x", "saved.json", backend=backend)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(started)):
        time.sleep(0.2)
    time.sleep(1)  # submitted and waiting
    waiting.send_signal(signal.SIGINT)
    _, err = communicate_or_dump(waiting, timeout=30)
    assert waiting.returncode == 130, err
    assert "keeps running" in err and "packtivity-checkproxy saved.json" in err


def test_ctrl_c_while_waiting_leaves_the_job_and_saves_the_proxy(slurm, tmp_path: Path) -> None:
    interrupt_a_waiting_run(tmp_path, "slurm", "w/_packtivity/psij/*.job")
    native_id = json.loads((tmp_path / "saved.json").read_text())["proxydetails"]["native_id"]
    try:
        queue = subprocess.run(
            ["squeue", "-h", "-j", native_id, "-o", "%T"], capture_output=True, text=True
        ).stdout
        assert queue.strip() in ("PENDING", "RUNNING")
        c = subprocess.run(
            [str(BIN / "packtivity-checkproxy"), "saved.json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert c.returncode == 0 and "ready: False" in c.stdout
    finally:
        subprocess.run(["scancel", native_id], capture_output=True)


def test_ctrl_c_while_waiting_on_a_local_job_saves_the_proxy(cli, tmp_path: Path) -> None:
    """As on Slurm: Ctrl-C leaves the ``-b local`` job running, writes its proxy and says how to
    check it (before the fix: 'Error: interrupted', exit 130, and no proxy)."""
    interrupt_a_waiting_run(tmp_path, "local", "w/_packtivity/*.pid")
    try:
        c = check(cli, tmp_path, "saved.json")
        assert c.returncode == 0 and "status: running" in c.stdout, c.stdout
    finally:
        cancelled = check(cli, tmp_path, "--cancel", "saved.json")
        assert "cancel requested" in cancelled.stderr


@pytest.mark.parametrize("backend", ["slurm", "pbs"])
def test_scheduler_scripts_golden(cli, tmp_path: Path, backend: str) -> None:
    """``--show-script``: PSI/J's scheduler script around the job body, submitting nothing."""
    import re

    from goldenfiles import assert_golden

    spec = host_spec("echo {word} > out.txt")
    r = run(
        cli,
        tmp_path,
        spec,
        "-b",
        backend,
        "--show-script",
        "--cpus",
        "2",
        "--memory",
        "1G",
        "--walltime",
        "1:30:00",
        "--queue",
        "debug",
        "--account",
        "prj",
        "--scheduler-option",
        "constraint=ssd" if backend == "slurm" else "l=filesystems=home",
        "-p",
        "word=golden",
        "-w",
        str(tmp_path / "w"),
    )
    assert r.returncode == 0, r.stderr
    text = r.stdout.replace(str(tmp_path), "@TMP@").replace(os.path.expanduser("~"), "@HOME@")
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "@UUID@", text)
    text = re.sub(r"/[0-9a-f]{64}/", "/@SHA@/", text)
    text = re.sub(r"packtivity-[0-9a-f]{6}", "packtivity-@RUN@", text)  # this run's id
    assert not list((tmp_path / "w").glob("_packtivity/*.job.sh"))  # nothing written
    # the scheduler's script only: the job body it runs has its own golden (job-batch.sh)
    scheduler_script, body = text.split("# ---- job body ", 1)
    assert body.startswith("@TMP@/w/_packtivity/packtivity-@RUN@.job.sh\n#!/bin/sh\n")
    assert_golden(f"{backend}-script.sh", scheduler_script)


def test_work_directory_with_shell_characters_on_slurm(slurm, cli, tmp_path: Path) -> None:
    """PSI/J 0.9.11 puts its directory into ``"'...'"`` in its scripts, so ``$(...)`` in it would
    run: such a step's PSI/J files go below ``~/.packtivity/psij/steps/`` instead, and the
    step still runs in its own directory."""
    marker = Path(f"/tmp/pwned-{os.getpid()}-{time.monotonic_ns()}")
    workdir = tmp_path / f"w x $(touch {marker})"
    spec = host_spec("pwd > here.txt", {"here": "{workdir}/here.txt"})
    r = run(cli, tmp_path, spec, "-b", "slurm", "--async", "-w", str(workdir))
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "proxy.json").read_text())["proxydetails"]
    assert "/.packtivity/psij/steps/" in proxy["submit_script"]
    c = check(cli, tmp_path, "--wait", "proxy.json")
    assert c.returncode == 0, c.stderr
    assert (workdir / "here.txt").read_text() == f"{workdir}\n"
    assert not marker.exists()


@pytest.mark.integration  # no cluster, but real processes that live for seconds
def test_local_async_returns_at_once_and_the_job_outlives_its_submitter(
    cli, tmp_path: Path
) -> None:
    """``-b local --async`` returns while the step still runs (before the fix it waited for the
    step's end: the job body held PSI/J's launcher pipe, fd 3), and the job survives the
    submitter's whole session being killed.  The speed is a benchmark row, not asserted here."""
    import contextlib
    import signal

    write_spec(
        tmp_path, "step.yml", host_spec("sleep 6; echo done > o.txt", {"o": "{workdir}/o.txt"})
    )
    submitter = subprocess.Popen(
        [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "local",
         "--async", "-x", str(tmp_path / "proxy.json"), "-w", str(tmp_path / "w")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: the test may kill all of it, and only it
    )  # fmt: skip
    out, err = submitter.communicate(timeout=60)
    assert submitter.returncode == 0, err
    status = check(cli, tmp_path, "proxy.json")
    assert status.returncode == 0 and "running" in status.stdout, status.stdout
    native_id = json.loads((tmp_path / "proxy.json").read_text())["proxydetails"]["native_id"]
    job_pid = native_id.split("@")[0]  # PID@start time
    job_session = Path(f"/proc/{job_pid}/stat").read_text().rsplit(")", 1)[1].split()[3]
    assert job_session == job_pid != str(submitter.pid)  # a session of its own
    # the submitter's session, as a closed terminal would (nothing of it left is the same)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(submitter.pid, signal.SIGKILL)
    done = check(cli, tmp_path, "--wait", "proxy.json")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "w" / "o.txt").read_text() == "done\n"


def _two_steps_in_one_work_directory(cli, tmp_path: Path, backend: str, *first_args: str) -> None:
    """Step 1 (succeeds, slowly) and step 2 (exit 5) submitted into one work directory, the
    second while the first has not finished (or not started): each proxy, checked from a new
    process, twice, reports its own step.  Before the fix both wrote _packtivity/packtivity.*,
    and step 1's proxy read step 2's record: 'failed ... exit code 5'."""
    write_spec(
        tmp_path, "one.yml", host_spec("sleep 3; echo one > one.txt", {"o": "{workdir}/one.txt"})
    )
    write_spec(tmp_path, "two.yml", host_spec("echo two; exit 5"))
    work = str(tmp_path / "w")
    for spec, proxy, args in (("one.yml", "s1.json", first_args), ("two.yml", "s2.json", ())):
        r = cli("packtivity-run", "-t", str(tmp_path), spec, "-b", backend, "--async",
                "-x", proxy, *args, "-w", work)  # fmt: skip
        assert r.returncode == 0, r.stderr
    jobs = {
        json.loads((tmp_path / p).read_text())["proxydetails"]["job_name"]
        for p in ("s1.json", "s2.json")
    }
    assert len(jobs) == 2 and all(j.startswith("packtivity-") for j in jobs)
    try:
        for _ in range(2):
            one = check(cli, tmp_path, "--wait", "s1.json")
            assert one.returncode == 0, one.stdout + one.stderr
            assert f'result: {{"o": "{work}/one.txt"}}' in one.stdout
            two = check(cli, tmp_path, "--wait", "s2.json")
            assert two.returncode == 1 and "exit code 5" in two.stdout, two.stdout
    finally:
        check(cli, tmp_path, "--cancel", "s1.json", "s2.json")
    records = sorted((tmp_path / "w" / "_packtivity").glob("packtivity-*.run.json"))
    assert len(records) == 2


@pytest.mark.integration  # no cluster, but real processes that live for seconds
def test_two_steps_in_one_work_directory_local(cli, tmp_path: Path) -> None:
    _two_steps_in_one_work_directory(cli, tmp_path, "local")
    # a record of another submission in this one's place is never taken as this job's end
    details = [
        json.loads((tmp_path / p).read_text())["proxydetails"] for p in ("s1.json", "s2.json")
    ]
    Path(details[0]["record"]).write_text(Path(details[1]["record"]).read_text())
    c = check(cli, tmp_path, "s1.json")
    assert c.returncode == 1 and "without" in c.stdout and "exit code 5" not in c.stdout, c.stdout


def test_two_steps_in_one_work_directory_slurm(slurm, cli, tmp_path: Path) -> None:
    # the first may not start for 4 s: the second is submitted before it runs
    _two_steps_in_one_work_directory(cli, tmp_path, "slurm", "--scheduler-option", "begin=now+4")


def test_two_steps_in_one_work_directory_pbs(pbs, cli, tmp_path: Path) -> None:
    _two_steps_in_one_work_directory(cli, tmp_path, "pbs")


def test_config_file_follows_xdg_config_home(tmp_path: Path, monkeypatch) -> None:
    """The config file is where the platform keeps it: $XDG_CONFIG_HOME/packtivity/config.yml
    (before: always ~/.config/packtivity/config.yml)."""
    from packtivity.batch.resources import from_config_file

    monkeypatch.delenv("PACKTIVITY_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "packtivity").mkdir(parents=True)
    (tmp_path / "xdg" / "packtivity" / "config.yml").write_text("queue: from-xdg\n")
    assert from_config_file().queue == "from-xdg"
