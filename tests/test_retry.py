"""Retries on the test cluster's real Slurm (issue 22): a step that runs out of walltime, or of
memory (cgroup enforcement), is submitted again with twice what it ran out of and succeeds; a
command's own failure is not retried; another process follows the retry through the proxy it
holds; ``packtivity-util status`` shows the attempt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import BIN
from stepspecs import host_spec, write_spec

UTIL = str(BIN / "packtivity-util")


def run(cli, tmp_path: Path, spec: dict, *args: str, timeout: float = 180):
    write_spec(tmp_path, "step.yml", spec)
    return cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "slurm", *args,
               cwd=tmp_path, timeout=timeout)  # fmt: skip


def records(workdir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((workdir / "_packtivity").glob("*.run.json"))]


def test_out_of_walltime_then_done_with_twice_the_walltime(slurm, cli, tmp_path: Path) -> None:
    """Attempt 1 has one minute (Slurm enforces whole minutes) for a 90 s command and ends
    TIMEOUT; attempt 2 has two minutes and publishes.  About 3 minutes."""
    spec = host_spec("sleep 90; echo done > out.txt", {"out": "{workdir}/out.txt"})
    work = tmp_path / "w"
    r = run(cli, tmp_path, spec, "--walltime", "0:1:00", "--retries", "1", "-w", str(work),
            timeout=400)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": f"{work}/out.txt"}
    assert "attempt 2 of 2 after timeout, with walltime 00:01:00 -> 00:02:00" in r.stderr
    (record,) = records(work)  # attempt 1 was killed before it could write one
    assert (record["exit_code"], record["signal"]) == (0, None)
    assert len(list((work / "_packtivity").glob("*.job.sh"))) == 2  # each attempt its own run
    status = subprocess.run([UTIL, "status", "--json", str(work)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    (step,) = json.loads(status.stdout)["steps"]  # the retried attempt is not a row of its own
    assert step["status"] == "succeeded" and step["job"].endswith("(attempt 2)")


def test_out_of_memory_then_done_with_twice_the_memory_followed_by_other_processes(
    slurm, cli, tmp_path: Path
) -> None:
    """150 MB in a 100 MB job ends OUT_OF_MEMORY; ``packtivity-checkproxy --wait`` (another
    process than the submitter) submits attempt 2 with 200 MB, which succeeds; a third process
    checking the same proxy file follows the retry and publishes attempt 2's result."""
    command = f"{sys.executable} -c 'x = bytearray(150 * 1024 * 1024)' && echo fits > out.txt"
    spec = host_spec(command, {"out": "{workdir}/out.txt"})
    work = tmp_path / "w"
    r = run(cli, tmp_path, spec, "--memory", "100M", "--retries", "2", "--async", "-w", str(work))
    assert r.returncode == 0, r.stderr
    waited = cli("packtivity-checkproxy", "--wait", "proxy.json", cwd=tmp_path, timeout=240)
    assert waited.returncode == 0, waited.stderr
    assert "attempt 2 of 3 after out_of_memory, with memory 100M -> 200M" in waited.stderr
    again = cli("packtivity-checkproxy", "--json", "proxy.json", cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr
    (step,) = json.loads(again.stdout)["steps"]
    assert step["status"] == "succeeded" and step["result"] == {"out": f"{work}/out.txt"}
    assert (work / "out.txt").read_text() == "fits\n"
    assert len(list((work / "_packtivity").glob("*.retried"))) == 1  # one claim, one retry


def test_a_commands_own_failure_is_not_retried(slurm, cli, tmp_path: Path) -> None:
    r = run(cli, tmp_path, host_spec("exit 3"), "--retries", "2", "-w", str(tmp_path / "w"))
    assert r.returncode == 1 and "failed with exit code 3" in r.stderr
    assert "attempt 2" not in r.stderr
    assert len(records(tmp_path / "w")) == 1
