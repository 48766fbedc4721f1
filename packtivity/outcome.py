"""How a step's job ended: the run record first, then whoever ran it (a scheduler, or this
machine).  One verdict for a step run here and for a batch job alike.

The run record (written by the job body when the command ends) is the truth about the exit
code: Slurm records PSI/J jobs whose command failed as COMPLETED 0:0.  The scheduler is the
truth about ends it imposed -- cancellation, walltime, memory, node failure, preemption --
which are reported as such even when the job left an exit code of 0.  A job that neither the
queue, nor accounting, nor a run record knows is *unknown*, never a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .runrecord import RunRecord

# what the runner of a job (a scheduler, or this machine) says about it, normalised
PENDING = "pending"  #: queued, held, configuring, suspended: not running yet (or paused)
RUNNING = "running"
ENDED = "ended"  #: finished by itself; the run record says how
CANCELLED = "cancelled"
TIMEOUT = "timeout"  #: ran out of walltime
OUT_OF_MEMORY = "out_of_memory"
NODE_FAILURE = "node_failure"
PREEMPTED = "preempted"
SCHEDULER_FAILURE = "scheduler_failure"  #: boot failure, deadline, launch failure
#: ends that the scheduler imposed: reported as such whatever exit code the job left
IMPOSED_ENDS = (CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAILURE, PREEMPTED, SCHEDULER_FAILURE)


@dataclass(frozen=True)
class SchedulerState:
    """What the runner of a job says about it (a step run here: ``ENDED``, and its exit code
    as ``native``)."""

    state: str  #: one of the constants above
    native: str = ""  #: the scheduler's own word for it (``COMPLETED``, ``R``, ...)
    reason: str = ""
    #: when the job ended (seconds since the epoch), where the scheduler says
    ended_at: Optional[float] = None

    @property
    def final(self) -> bool:
        return self.state not in (PENDING, RUNNING)


#: not finished, though its end is known in part: the scheduler says the job ended (or no longer
#: knows a job it listed a moment ago) and its run record is not visible yet (the shared storage
#: may show it late, see ``record_wait``), or the record says the command failed and the
#: scheduler has not finished the job yet
ENDING = "ending"
#: it waited for a queue slot in a process that ended before it was submitted
NOT_SUBMITTED = "not_submitted"
SUCCEEDED = "succeeded"
FAILED = "failed"
UNKNOWN = "unknown"

_IMPOSED_WORDS = {
    CANCELLED: "was cancelled",
    TIMEOUT: "ran out of walltime",
    OUT_OF_MEMORY: "ran out of memory",
    NODE_FAILURE: "was ended by a node failure",
    PREEMPTED: "was preempted",
    SCHEDULER_FAILURE: "was ended by the scheduler",
}


@dataclass(frozen=True)
class Outcome:
    #: pending, running, ending, succeeded, failed, cancelled, timeout, out_of_memory,
    #: node_failure, preempted, scheduler_failure or unknown
    status: str
    exit_code: Optional[int] = None
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.status not in (PENDING, RUNNING, ENDING)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


def decide(
    job: str,
    record: Optional[RunRecord],
    scheduler_state: Optional[SchedulerState],
    record_wait: float = 0.0,
) -> Outcome:
    """The outcome of ``job`` (a description like "slurm job 123" or "step 'fit-1a2b3c'") from
    its run record (None: none was written) and what its runner says (None: the scheduler does
    not know the job).  ``record_wait``: seconds left of the grace period of a job that ended
    by itself, or vanished from the scheduler's view, without a visible run record (more than
    0: it is ``ending``, not failed or unknown yet)."""
    exit_code = record.exit_code if record else None
    if scheduler_state is not None and scheduler_state.state in IMPOSED_ENDS:
        native = f" ({scheduler_state.native})" if scheduler_state.native else ""
        return Outcome(
            scheduler_state.state,
            exit_code,
            f"{job} {_IMPOSED_WORDS[scheduler_state.state]}{native}",
        )
    if record is not None:
        if record.succeeded:
            return Outcome(SUCCEEDED, 0, f"{job} succeeded: {record.describe()}")
        if scheduler_state is not None and not scheduler_state.final:
            # the command failed and the scheduler still runs the job: whether it imposed the
            # end (its out-of-memory kill shows in the record first) is still to come
            return Outcome(
                ENDING,
                None,
                f"{job}: its command ended ({record.describe()}); waiting for the scheduler "
                "to finish the job",
            )
        if record.signal and record.exit_code in (0, 128 + 15, 128 + 2, 128 + 1):
            return Outcome(
                CANCELLED,
                exit_code,
                # worded as the scheduler's CANCELLED is: which of the two answers first
                # depends on timing (the queue forgets the job before accounting has it)
                f"{job} was cancelled (stopped by SIG{record.signal}): {record.describe()}",
            )
        return Outcome(FAILED, exit_code, f"{job} failed with {record.describe()}")
    if scheduler_state is None:
        if record_wait > 0:  # it was listed, or accepted, a moment ago
            return Outcome(
                ENDING,
                None,
                f"{job} is not in the queue nor in the scheduler's accounting just now, and its "
                f"run record is not visible yet: waiting up to {record_wait:.0f} s more for "
                "either to show it",
            )
        return Outcome(
            UNKNOWN,
            None,
            f"{job} is unknown: not in the queue, not in the scheduler's accounting, and it "
            "left no run record",
        )
    if scheduler_state.state in (PENDING, RUNNING):
        return Outcome(scheduler_state.state)  # nothing to say beyond the state
    if record_wait > 0:
        return Outcome(
            ENDING,
            None,
            f"{job} ended ({scheduler_state.native or 'gone'}); its run record is not visible "
            f"yet: waiting up to {record_wait:.0f} s more for the shared storage to show it",
        )
    return Outcome(
        FAILED,
        None,
        f"{job} ended ({scheduler_state.native or 'gone'}) without writing its run record: "
        "killed before the command finished, or the job body could not start",
    )
