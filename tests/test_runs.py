"""Operating a run (issue 22): ``packtivity-util status``, ``cancel`` and ``clean`` of every
step under a directory, on the test cluster's real Slurm, with a yadage workflow as the source
of steps, and over SSH.  Each batch step keeps its proxy beside its run record, which is how a
directory's steps are found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import BIN, assert_one_line_error
from stepspecs import host_spec, write_spec
from test_ssh import Laptop, laptop  # noqa: F401  (the laptop fixture)

WORKFLOWS = Path(__file__).parent / "workflows"
UTIL = str(BIN / "packtivity-util")


def counting_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH first has wrappers that log each scheduler program run."""
    bindir, calls = tmp_path / "bin", tmp_path / "calls.log"
    bindir.mkdir()
    for program in ("squeue", "sacct", "scontrol", "sbatch", "scancel"):
        real = subprocess.run(["sh", "-c", f"command -v {program}"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        (bindir / program).write_text(f'#!/bin/sh\necho {program} >> {calls}\nexec {real} "$@"\n')
        (bindir / program).chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, calls


def status_json(*directories: str, cwd: Path, env=None) -> tuple[int, dict]:
    r = subprocess.run([UTIL, "status", "--json", *directories], cwd=cwd, capture_output=True,
                       text=True, timeout=120, env=env)  # fmt: skip
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_status_of_a_yadage_workflow_on_slurm(slurm, tmp_path: Path) -> None:
    """yadage runs a map over four items and a reduce with ``-b slurm``; ``status work`` finds
    the five steps in yadage's work directory, all succeeded, each with its Slurm job and the
    host it ran on, from their run records: no scheduler program at all."""
    r = subprocess.run(
        [str(Path(sys.executable).parent / "yadage-run"), "-t", str(WORKFLOWS), "work",
         "mapreduce.yml", "-b", "slurm", "-p", "items=[1, 2, 3, 4]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    env, calls = counting_path(tmp_path)
    code, report = status_json("work", cwd=tmp_path, env=env)
    assert code == 0 and report["format"] == "packtivity-status/1"
    assert report["counts"] == {"succeeded": 5}
    steps = report["steps"]
    names = ["map_0", "map_1", "map_2", "map_3", "reduce"]
    assert sorted(Path(s["workdir"]).name for s in steps) == names
    assert all(s["job"].startswith("slurm ") and s["host"] and s["exit_code"] == 0 for s in steps)
    assert not calls.exists() or calls.read_text() == ""
    text = subprocess.run([UTIL, "status", "work"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert text.returncode == 0 and text.stdout.splitlines()[-1] == "5 steps: 5 succeeded"
    assert all(s["step"] in text.stdout for s in steps)
    # a step of the workflow again, from its record, on this machine: the same output
    square = next(s for s in steps if s["workdir"].endswith("map_2"))
    again = subprocess.run([UTIL, "rerun", square["record"], "-b", "local", "-w", "again"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"squared": str(tmp_path / "again" / "squared.txt")}
    original = tmp_path / square["workdir"] / "squared.txt"
    assert (tmp_path / "again" / "squared.txt").read_text() == original.read_text() == "9\n"


def test_status_cancel_and_clean_of_a_run_in_flight(slurm, shared_workdir: Path) -> None:
    """Three steps submitted ``--async`` under one directory: one succeeds, one fails with its
    own exit code, one runs long.  ``status`` tells them apart (the failure with its message)
    with at most 2 scheduler programs; ``clean`` refuses while one runs; ``cancel`` ends it;
    ``clean`` then lists, and with --yes removes, only the ``_packtivity`` directories."""
    run = shared_workdir / "run"
    steps = {
        "ok": host_spec("echo done > out.txt"),
        "fails": host_spec("echo 'no calibration' >&2; exit 3"),
        "long": host_spec("sleep 300"),
    }
    for name, spec in steps.items():
        write_spec(shared_workdir, f"{name}.yml", spec)
        r = subprocess.run(
            [str(BIN / "packtivity-run"), "-t", str(shared_workdir), f"{name}.yml", "-b", "slurm",
             "--async", "-x", f"{name}.json", "-w", str(run / name)],
            cwd=shared_workdir, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 120
    while True:
        code, report = status_json(str(run), cwd=shared_workdir)
        states = {Path(s["workdir"]).name: s for s in report["steps"]}
        if states["ok"]["finished"] and states["fails"]["finished"]:
            break
        assert time.monotonic() < deadline, report
        time.sleep(1)
    assert code == 1  # a step failed
    assert states["ok"]["status"] == "succeeded" and states["ok"]["job"].startswith("slurm ")
    assert states["fails"]["status"] == "failed" and states["fails"]["exit_code"] == 3
    assert "exit code 3" in states["fails"]["message"]
    assert states["long"]["status"] in ("pending", "running")
    env, calls = counting_path(shared_workdir)
    status_json(str(run), cwd=shared_workdir, env=env)
    assert len(calls.read_text().split()) <= 2, calls.read_text()
    refused = subprocess.run([UTIL, "clean", str(run)], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert_one_line_error(refused, "1 steps have not finished", "packtivity-util cancel")
    cancel = subprocess.run([UTIL, "cancel", str(run)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert cancel.returncode == 0 and cancel.stdout.count("cancel requested") == 1, cancel.stderr
    deadline = time.monotonic() + 120
    while not states["long"]["finished"]:
        assert time.monotonic() < deadline, states["long"]
        time.sleep(1)
        _, report = status_json(str(run), cwd=shared_workdir)
        states = {Path(s["workdir"]).name: s for s in report["steps"]}
    assert states["long"]["status"] == "cancelled"
    listed = subprocess.run([UTIL, "clean", str(run)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert listed.returncode == 0
    assert sorted(listed.stdout.split("\n")[:-1]) == [
        f"would remove {run / name / '_packtivity'}" for name in sorted(steps)
    ]
    assert all((run / name / "_packtivity").is_dir() for name in steps)
    removed = subprocess.run([UTIL, "clean", "--yes", str(run)], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    assert not any((run / name / "_packtivity").exists() for name in steps)
    assert (run / "ok" / "out.txt").read_text() == "done\n"  # a step's output stays


def test_status_over_ssh(laptop: Laptop, cli, tmp_path: Path) -> None:  # noqa: F811
    """Steps submitted from the laptop; ``status --ssh testcluster DIR`` reads the cluster's
    storage (the directory is the cluster's path); a directory it lacks is one line."""
    write_spec(tmp_path, "step.yml", host_spec("id -un > who.txt", {"who": "{workdir}/who.txt"}))
    for name in ("a", "b"):
        r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "slurm", "--ssh",
                "testcluster", "-w", str(laptop.work / "run" / name), cwd=tmp_path,
                timeout=180)  # fmt: skip
        assert r.returncode == 0, r.stderr
    r = subprocess.run([UTIL, "status", "--json", "--ssh", "testcluster", str(laptop.work / "run")],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["counts"] == {"succeeded": 2}
    missing = subprocess.run([UTIL, "status", "--ssh", "testcluster", "/nonexistent/run"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert_one_line_error(missing, "/nonexistent/run is not a directory on packtivity@")


def test_status_of_steps_run_in_place_and_an_unreadable_proxy(cli, tmp_path: Path) -> None:
    """Steps run to completion in place (no proxy) are told by their run records; a proxy file
    that is not one is that step's 'unknown', not the end of the whole table."""
    write_spec(tmp_path, "ok.yml", host_spec("true"))
    write_spec(tmp_path, "bad.yml", host_spec("exit 5"))
    for name in ("ok", "bad"):
        workdir = str(tmp_path / "run" / name)
        cli("packtivity-run", "-t", str(tmp_path), f"{name}.yml", "-w", workdir, cwd=tmp_path)
    (tmp_path / "run" / "ok" / "_packtivity" / "garbled.proxy.json").write_text("{not json")
    r = subprocess.run([UTIL, "status", "run"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "3 steps: 1 failed, 1 succeeded, 1 unknown"
    assert any("garbled.proxy.json" in line for line in lines)
    assert any(line.strip().startswith("failed with exit code 5") for line in lines)
    missing = subprocess.run([UTIL, "status", "nowhere"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert_one_line_error(missing, "nowhere is not a directory on this machine")


def test_rerun_of_a_slurm_record_here_and_on_slurm(slurm, cli, tmp_path: Path) -> None:
    """A step run with ``-b slurm``; ``rerun RECORD`` with ``-b local`` and with ``-b slurm``
    (the record's own) in new work directories publishes the same result, and writes the same
    output; the recorded run's own directory is refused."""
    spec = host_spec("echo {msg} > out.txt", {"out": "{workdir}/out.txt"})
    write_spec(tmp_path, "step.yml", spec)
    first = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "slurm",
                "-p", "msg=same words", "-w", str(tmp_path / "w0"), cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    (record,) = (tmp_path / "w0" / "_packtivity").glob("*.run.json")
    for backend in ("local", "slurm"):
        again = subprocess.run(
            [UTIL, "rerun", str(record), "-b", backend, "-w", str(tmp_path / backend)],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        result = json.loads(again.stdout)
        assert result == {"out": str(tmp_path / backend / "out.txt")}
        assert (tmp_path / backend / "out.txt").read_text() == "same words\n"
    same = subprocess.run([UTIL, "rerun", str(record), "-w", str(tmp_path / "w0")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert_one_line_error(same, "the recorded run's own work directory")
    assert (tmp_path / "w0" / "out.txt").read_text() == "same words\n"


def test_rerun_says_when_the_image_is_not_the_recorded_one(apptainer, cli, tmp_path: Path) -> None:
    """A container step from a SIF file, run with ``-b local``; the file is then replaced by
    another image: ``rerun`` says so (both digests' heads) before it runs."""
    import shutil

    from stepspecs import container_spec

    image = tmp_path / "images" / "tool.sif"
    image.parent.mkdir()
    shutil.copy(apptainer.image("busybox"), image)
    command = {"process_type": "string-interpolated-cmd", "cmd": "echo ran > out.txt"}
    write_spec(tmp_path, "step.yml", container_spec(str(image), command))
    first = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "local",
                "-w", str(tmp_path / "w0"), cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    (record,) = (tmp_path / "w0" / "_packtivity").glob("*.run.json")
    shutil.copy(apptainer.image("python"), image)  # same path, another image
    again = subprocess.run([UTIL, "rerun", str(record), "-w", str(tmp_path / "w1")],
                           capture_output=True, text=True, timeout=180)  # fmt: skip
    assert again.returncode == 0, again.stderr
    note = next(line for line in again.stderr.splitlines() if "is not the one" in line)
    assert str(image) in note and "sha256" in note
    assert again.stderr.index(note) < again.stderr.index("succeeded")  # said before it ran


def yadage(tmp_path: Path, workflow: str, *args: str, **popen: object):
    argv = [str(Path(sys.executable).parent / "yadage-run"), "-t", str(WORKFLOWS), "work",
            workflow, "-b", "slurm", *args]  # fmt: skip
    return subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)  # type: ignore[call-overload]  # fmt: skip


def test_a_yadage_workflow_whose_steps_run_out_of_memory_is_retried(slurm, tmp_path: Path) -> None:
    """Two yadage steps each allocate 150 MB under ``-k memory=100M -k retries=1``: Slurm's
    cgroup ends both OUT_OF_MEMORY, each is retried with 200M and succeeds, the workflow
    finishes; ``status`` shows both at attempt 2."""
    run = yadage(tmp_path, "hungry.yml", "-p", f"python={sys.executable}", "-p", "megabytes=150",
                 "-p", "tags=[a, b]", "-k", "memory=100M", "-k", "retries=1")  # fmt: skip
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    code, report = status_json("work", cwd=tmp_path)
    assert code == 0 and report["counts"] == {"succeeded": 2}, report
    assert all(step["job"].endswith("(attempt 2)") for step in report["steps"])
    for step in report["steps"]:
        assert len(list((tmp_path / step["workdir"] / "_packtivity").glob("*.job.sh"))) == 2


def test_cancel_and_clean_a_yadage_run_in_flight(slurm, tmp_path: Path) -> None:
    """yadage runs a map/reduce whose jobs may start only in an hour; ``status work`` shows
    the map steps pending, ``cancel work`` cancels them and yadage gives up; ``clean --yes``
    then removes packtivity's files and leaves yadage's own."""
    run = yadage(tmp_path, "mapreduce.yml", "-p", "items=[1, 2, 3]",
                 "-k", "scheduler_option=begin=now+1hour")  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            if (tmp_path / "work").is_dir():
                _, report = status_json("work", cwd=tmp_path)
                if report["counts"].get("pending") == 3:
                    break
            assert time.monotonic() < deadline and run.poll() is None, "no pending map steps"
            time.sleep(1)
        cancel = subprocess.run([UTIL, "cancel", "work"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert cancel.returncode == 0 and cancel.stdout.count("cancel requested") == 3
        run.communicate(timeout=180)
        assert run.returncode != 0  # yadage saw its steps cancelled
        _, report = status_json("work", cwd=tmp_path)
        assert report["counts"] == {"cancelled": 3}, report
    finally:
        if run.poll() is None:
            run.kill()
    removed = subprocess.run([UTIL, "clean", "--yes", "work"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    assert not list((tmp_path / "work").rglob("_packtivity"))
    assert (tmp_path / "work" / "_yadage").is_dir()


def test_status_watch_refreshes_until_every_step_has_ended(slurm, cli, tmp_path: Path) -> None:
    """``status --watch`` on a step that runs a few seconds: the table is printed again as it
    changes, the last one says it succeeded, and the command ends by itself."""
    write_spec(tmp_path, "step.yml", host_spec("sleep 4"))
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "slurm", "--async",
            "-w", str(tmp_path / "run" / "a"), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    watch = subprocess.run([UTIL, "status", "--watch", "run"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert watch.returncode == 0, watch.stderr
    summaries = [line for line in watch.stdout.splitlines() if line.startswith("1 steps:")]
    assert len(summaries) >= 2 and summaries[-1] == "1 steps: 1 succeeded", summaries
