"""How a batch job ended: the run record first, then the scheduler.

The run record (written by the job body when the command ends) is the truth about the exit
code: Slurm records PSI/J jobs whose command failed as COMPLETED 0:0.  The scheduler is the
truth about ends it imposed -- cancellation, walltime, memory, node failure, preemption --
which are reported as such even when the job left an exit code of 0.  A job that neither the
queue, nor accounting, nor a run record knows is *unknown*, never a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..runrecord import RunRecord
from . import scheduler as s
from .scheduler import SchedulerState

SUCCEEDED = "succeeded"
FAILED = "failed"
UNKNOWN = "unknown"

_IMPOSED_WORDS = {
    s.CANCELLED: "was cancelled",
    s.TIMEOUT: "ran out of walltime",
    s.OUT_OF_MEMORY: "ran out of memory",
    s.NODE_FAILURE: "was ended by a node failure",
    s.PREEMPTED: "was preempted",
    s.SCHEDULER_FAILURE: "was ended by the scheduler",
}


@dataclass(frozen=True)
class Outcome:
    #: pending, running, succeeded, failed, cancelled, timeout, out_of_memory, node_failure,
    #: preempted, scheduler_failure or unknown
    status: str
    exit_code: Optional[int] = None
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.status not in (s.PENDING, s.RUNNING)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


def decide(
    job: str, record: Optional[RunRecord], scheduler_state: Optional[SchedulerState]
) -> Outcome:
    """The outcome of ``job`` (a description like "slurm job 123") from what is known of it."""
    exit_code = record.exit_code if record else None
    if scheduler_state is not None and scheduler_state.state in s.IMPOSED_ENDS:
        native = f" ({scheduler_state.native})" if scheduler_state.native else ""
        return Outcome(
            scheduler_state.state,
            exit_code,
            f"{job} {_IMPOSED_WORDS[scheduler_state.state]}{native}",
        )
    if record is not None:
        if record.succeeded:
            return Outcome(SUCCEEDED, 0, f"{job} succeeded: {record.describe()}")
        if record.signal and record.exit_code in (0, 128 + 15, 128 + 2, 128 + 1):
            return Outcome(
                s.CANCELLED,
                exit_code,
                # worded as the scheduler's CANCELLED is: which of the two answers first
                # depends on timing (the queue forgets the job before accounting has it)
                f"{job} was cancelled (stopped by SIG{record.signal}): {record.describe()}",
            )
        return Outcome(FAILED, exit_code, f"{job} failed with {record.describe()}")
    if scheduler_state is None:
        return Outcome(
            UNKNOWN,
            None,
            f"{job} is unknown: not in the queue, not in the scheduler's accounting, and it "
            "left no run record",
        )
    if scheduler_state.state in (s.PENDING, s.RUNNING):
        return Outcome(scheduler_state.state)  # nothing to say beyond the state
    return Outcome(
        FAILED,
        None,
        f"{job} ended ({scheduler_state.native or 'gone'}) without writing its run record: "
        "killed before the command finished, or the job body could not start",
    )
