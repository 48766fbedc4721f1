"""One verdict (packtivity/outcome.py) for a step run here and a batch job: the run record is
the truth about the exit code, the scheduler about the ends it imposed; nothing known is
unknown, never a success."""

from __future__ import annotations

from packtivity import outcome as o
from packtivity.runrecord import RunRecord


def record(exit_code: int = 0, signal: str | None = None) -> RunRecord:
    return RunRecord(
        step="fit-1a2b3c", exit_code=exit_code, signal=signal, start="2026-12-02T08:00:00Z",
        end="2026-12-02T08:00:05Z", host="node1", cwd="/w", command_line="sh -c fit",
        stdin=False, runtime=None, runtime_version=None, image=None, batch_job_id="9",
    )  # fmt: skip


ENDED_HERE = o.SchedulerState(o.ENDED, native="exit code 0")


def test_a_record_decides_the_exit_code_though_the_scheduler_says_completed() -> None:
    verdict = o.decide("slurm job 9", record(3), o.SchedulerState(o.ENDED, "COMPLETED"))
    assert (verdict.status, verdict.exit_code, verdict.finished) == (o.FAILED, 3, True)
    assert verdict.message.startswith("slurm job 9 failed with exit code 3 on node1")


def test_the_scheduler_decides_the_ends_it_imposed() -> None:
    for imposed in o.IMPOSED_ENDS:
        verdict = o.decide("job", record(0), o.SchedulerState(imposed, "X"))
        assert verdict.status == imposed and not verdict.succeeded


def test_a_step_stopped_by_sigterm_is_cancelled_here_and_in_batch_alike() -> None:
    here = o.decide("step 'fit-1a2b3c'", record(143, "TERM"), ENDED_HERE)
    batch = o.decide("slurm job 9", record(143, "TERM"), o.SchedulerState(o.ENDED, "COMPLETED"))
    assert here.status == batch.status == o.CANCELLED
    assert "was cancelled (stopped by SIGTERM)" in here.message
    assert "was cancelled (stopped by SIGTERM)" in batch.message


def test_no_record_is_a_failure_once_ended_and_unknown_when_nobody_knows() -> None:
    ended = o.decide("step 'x'", None, o.SchedulerState(o.ENDED, "exit code 1"))
    assert ended.status == o.FAILED and "without writing its run record" in ended.message
    assert o.decide("slurm job 9", None, None).status == o.UNKNOWN
    running = o.decide("slurm job 9", None, o.SchedulerState(o.RUNNING, "R"))
    assert running.status == o.RUNNING and not running.finished


def test_success_needs_a_record() -> None:
    assert o.decide("job", record(0), ENDED_HERE).succeeded
    assert not o.decide("job", None, o.SchedulerState(o.ENDED, "COMPLETED")).succeeded


def test_a_failed_record_waits_for_the_scheduler_to_finish_the_job() -> None:
    """An out-of-memory kill shows in the record (137) before Slurm says OUT_OF_MEMORY."""
    ending = o.decide("slurm job 9", record(137), o.SchedulerState(o.RUNNING, "COMPLETING"))
    assert ending.status == o.ENDING and not ending.finished
    assert "waiting for the scheduler to finish the job" in ending.message
    ended = o.decide("slurm job 9", record(137), o.SchedulerState(o.OUT_OF_MEMORY, "OOM"))
    assert ended.status == o.OUT_OF_MEMORY
    assert o.decide("slurm job 9", record(0), o.SchedulerState(o.RUNNING, "R")).succeeded


def test_a_job_ended_without_a_visible_record_is_ending_during_the_grace_period() -> None:
    completed = o.SchedulerState(o.ENDED, "COMPLETED")
    assert o.decide("slurm job 9", None, completed, record_wait=30.0).status == o.ENDING
    assert o.decide("slurm job 9", None, completed, record_wait=0.0).status == o.FAILED


def test_a_job_gone_from_the_scheduler_is_ending_during_the_grace_period_then_unknown() -> None:
    """None from the scheduler with grace left: it listed the job a moment ago (the poller
    gives grace only then); with no grace left, or none given, the job is unknown."""
    ending = o.decide("pbs job 828.pbs-head", None, None, record_wait=60.0)
    assert ending.status == o.ENDING and not ending.finished and "60 s" in ending.message
    assert o.decide("pbs job 828.pbs-head", None, None, record_wait=0.0).status == o.UNKNOWN
