"""``-b local``'s adapter (packtivity/batch/local.py): a job is a process id *and* its start
time; ``ps`` output to job states; a process that is gone, or an unrelated process that got
the id, has ended; cancelling checks the identity before it signals; ids that could signal
the machine (``1``) or the caller (``0``) are not ids."""

from __future__ import annotations

import re
import subprocess

import pytest

from packtivity.batch.local import LocalAdapter, local_id
from packtivity.batch.scheduler import ENDED, RUNNING, TransientSchedulerError

START = "Wed Dec  2 08:18:57 2026"
JOB = local_id("4242", START)


def test_the_id_is_pid_and_start_time() -> None:
    assert JOB == "4242@Wed_Dec_2_08:18:57_2026"
    pattern = LocalAdapter.native_id_pattern
    assert re.fullmatch(pattern, JOB)
    for bad in ("0@x", "1@x", "-1@x", "4242", "4242@", "4242@a b", "4242@x;rm", "01@x"):
        assert not re.fullmatch(pattern, bad), bad


def test_running_zombie_gone_and_reused_processes() -> None:
    adapter = LocalAdapter()
    ids = [JOB, local_id("11", START), local_id("12", START), local_id("13", START)]
    assert adapter.status_command(ids) == [
        "env", "LC_ALL=C", "ps", "-o", "pid=,stat=,lstart=", "-p", "11,12,13,4242",
    ]  # fmt: skip
    stdout = f" 4242 Ss   {START}\n   11 Z    {START}\n   13 S    Thu Dec  3 09:00:00 2026\n"
    states = adapter.parse_status(ids, 0, stdout, "")
    assert states[JOB].state == RUNNING and states[JOB].native == "Ss"
    assert states[ids[1]].state == ENDED  # a zombie has ended
    assert states[ids[2]].state == ENDED and states[ids[2]].native == "gone"
    assert states[ids[3]].state == ENDED and "reused" in states[ids[3]].native


def test_ps_finding_none_is_an_answer_and_a_failing_ps_is_transient() -> None:
    adapter = LocalAdapter()
    assert adapter.parse_status([JOB], 1, "", "")[JOB].state == ENDED  # ps: no such process
    with pytest.raises(TransientSchedulerError):
        adapter.parse_status([JOB], 1, "", "ps: cannot read /proc")
    with pytest.raises(TransientSchedulerError):
        adapter.parse_status([JOB], 2, "", "")


def test_cancel_signals_only_a_process_that_is_still_the_job() -> None:
    """The cancel command is run for real against a process this test started (it is this
    test's own child): the wrong start time leaves it alone, the right one ends it."""
    adapter = LocalAdapter()
    sleeper = subprocess.Popen(["setsid", "sleep", "60"])
    try:
        lstart = subprocess.run(
            ["env", "LC_ALL=C", "ps", "-o", "lstart=", "-p", str(sleeper.pid)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        wrong = adapter.cancel_command(local_id(str(sleeper.pid), "Thu Jan  1 00:00:00 2026"))
        refused = subprocess.run(wrong, capture_output=True, text=True)
        assert refused.returncode == 1 and "another process" in refused.stderr
        assert sleeper.poll() is None  # still alive
        right = adapter.cancel_command(local_id(str(sleeper.pid), lstart))
        assert subprocess.run(right, capture_output=True, text=True).returncode == 0
        assert sleeper.wait(timeout=10) == -15
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
    assert LocalAdapter().accounting_commands([JOB]) == []
