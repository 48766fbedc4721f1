"""``-b local``'s adapter (packtivity/batch/local.py): ``ps`` output to job states; a process
that is gone has ended (its run record says how); ``ps`` failing is transient."""

from __future__ import annotations

import pytest

from packtivity.batch.local import LocalAdapter
from packtivity.batch.scheduler import ENDED, RUNNING, TransientSchedulerError


def test_running_zombie_and_gone_processes() -> None:
    adapter = LocalAdapter()
    assert adapter.status_command(["10", "11", "12"]) == [
        "ps",
        "-o",
        "pid=,stat=",
        "-p",
        "10,11,12",
    ]
    states = adapter.parse_status(["10", "11", "12"], 0, "   10 Ss\n   11 Z\n", "")
    assert states["10"].state == RUNNING and states["10"].native == "Ss"
    assert states["11"].state == ENDED  # a zombie has ended
    assert states["12"].state == ENDED and states["12"].native == "gone"


def test_ps_finding_none_is_an_answer_and_a_failing_ps_is_transient() -> None:
    adapter = LocalAdapter()
    assert adapter.parse_status(["5"], 1, "", "")["5"].state == ENDED  # ps: no such process
    with pytest.raises(TransientSchedulerError):
        adapter.parse_status(["5"], 1, "", "ps: cannot read /proc")
    with pytest.raises(TransientSchedulerError):
        adapter.parse_status(["5"], 2, "", "")


def test_cancel_ends_the_jobs_process_group_only() -> None:
    assert LocalAdapter().cancel_command("4242") == ["kill", "-TERM", "--", "-4242"]
    assert LocalAdapter().accounting_command(["1"]) is None
