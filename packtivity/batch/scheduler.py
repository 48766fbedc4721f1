"""What every scheduler adapter provides: commands to run and parsers of their output.

An adapter does no I/O.  The poller runs the commands it builds through a
:class:`~packtivity.hosts.Host` and hands the output back to the adapter's parsers, so every
adapter works the same on a login node and over SSH.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

# the normalised states of a job, shared with the verdict on how it ended
from ..outcome import (  # noqa: F401 - re-exported: adapters and the poller use them from here
    CANCELLED,
    ENDED,
    IMPOSED_ENDS,
    NODE_FAILURE,
    OUT_OF_MEMORY,
    PENDING,
    PREEMPTED,
    RUNNING,
    SCHEDULER_FAILURE,
    TIMEOUT,
    SchedulerState,
)


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
    #: the environment variable that holds the job's id inside the job ("" for none); the job
    #: body writes it into the run record
    job_id_variable: str
    #: what a native id of this scheduler looks like (a regular expression the whole id
    #: matches): a proxy with another id is refused before any command is built from it
    native_id_pattern: str
    #: the program that submits a job (PSI/J runs it), checked for before a submission
    submit_program: str
    #: True: jobs run on other machines than the one that submits them, so their run records
    #: may show late on the shared storage (the poller's grace period); False: on this one
    shared_storage: bool
    #: added to the environment of the status and accounting commands
    command_environment: dict[str, str]

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

    def accounting_commands(self, ids: list[str]) -> list[list[str]]:
        """Commands that report on jobs that left the queue, each one a source that a cluster
        may not have (the poller runs the first that answers, and remembers it); empty: the
        status command already covers finished jobs."""
        ...

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> Optional[dict[str, SchedulerState]]:
        """Like :meth:`parse_status`; None when this source is not there on the cluster."""
        ...

    def refused_for_a_limit(self, message: str) -> bool:
        """Whether the submit program's complaint ``message`` is a refusal for a per-user or
        per-account limit (the job can be submitted once fewer jobs are queued)."""
        ...

    def cancel_command(self, native_id: str, job_name: str = "") -> list[str]:
        """The command that cancels the job ``native_id`` (a valid id), and only if it is still
        named ``job_name`` where the scheduler can check that."""
        ...

    def usage_command(self, ids: list[str]) -> Optional[list[str]]:
        """The command that tells what the jobs ``ids`` asked for and used (None: the scheduler
        keeps no such account), for reports."""
        ...

    def parse_usage(self, returncode: int, stdout: str) -> dict[str, dict[str, str]]:
        """``{job id: {"asked_memory", "asked_time", "max_rss"}}`` (as the scheduler prints
        them; missing keys: not known) from the output of :meth:`usage_command`."""
        ...


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
