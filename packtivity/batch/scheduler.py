"""What every scheduler adapter provides: commands to run and parsers of their output.

An adapter does no I/O.  The poller runs the commands it builds through a
:class:`~packtivity.hosts.Host` and hands the output back to the adapter's parsers, so every
adapter works the same on a login node and over SSH.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol

# what a scheduler says about a job, normalised
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
    state: str  #: one of the constants above
    native: str = ""  #: the scheduler's own word for it (``COMPLETED``, ``R``, ...)
    reason: str = ""

    @property
    def final(self) -> bool:
        return self.state not in (PENDING, RUNNING)


class TransientSchedulerError(Exception):
    """The scheduler did not answer this time (controller down, socket timed out): retry."""


class SchedulerAdapter(Protocol):
    """Everything that is particular to one scheduler; a new scheduler is one adapter module
    plus one line in :mod:`packtivity.batch.adapters`."""

    #: the backend name (``-b slurm``)
    name: str
    #: PSI/J's executor name
    psij_executor: str
    #: True: the job body is started detached on the host, no scheduler script (``-b local``);
    #: False: it is submitted in PSI/J's scheduler script
    detached: bool
    #: the PSI/J custom attribute that names the job (``slurm.job-name``); "" for none
    job_name_attribute: str

    def resource_shape(self, cpus: Optional[int]) -> dict[str, Any]:
        """PSI/J ``ResourceSpecV1`` keywords for the one process of a step with ``cpus`` cores."""
        ...

    def status_command(self, ids: list[str]) -> list[str]:
        """One command that reports on exactly these jobs (never the whole queue)."""
        ...

    def parse_status(
        self, ids: list[str], returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        """States of the jobs among ``ids`` that the queue knows; the others are left out.

        Raises :class:`TransientSchedulerError` when the scheduler did not answer.
        """
        ...

    def accounting_command(self, ids: list[str]) -> Optional[list[str]]:
        """One command that reports on jobs that left the queue; None: the status command
        already covers finished jobs."""
        ...

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        """Like :meth:`parse_status`; empty when there is no accounting to ask."""
        ...

    def cancel_command(self, native_id: str) -> list[str]: ...


#: what schedulers print when they are temporarily unreachable
TRANSIENT_MARKERS = (
    "socket timed out",
    "unable to contact slurm controller",
    "connection refused",
    "connection timed out",
    "transport endpoint",
    "zero bytes were transmitted",
    "temporarily unavailable",
    "try again",
    "resource temporarily",
    "pbs_server",  # "cannot connect to pbs_server"
)


def is_transient(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in TRANSIENT_MARKERS)
