"""Slurm: ``squeue -j`` for jobs in the queue, ``sacct`` (or ``sacct -c``) once they left it."""

from __future__ import annotations

import shlex
from typing import Any, Optional

from . import scheduler as s
from .scheduler import SchedulerState, TransientSchedulerError, is_transient

#: Slurm's long state names (squeue %T, sacct State) -> normalised states
STATES = {
    "PENDING": s.PENDING,
    "CONFIGURING": s.PENDING,
    "REQUEUED": s.PENDING,
    "REQUEUE_HOLD": s.PENDING,
    "REQUEUE_FED": s.PENDING,
    "RESV_DEL_HOLD": s.PENDING,
    "SUSPENDED": s.PENDING,
    "STOPPED": s.PENDING,
    "RESIZING": s.RUNNING,
    "RUNNING": s.RUNNING,
    "COMPLETING": s.RUNNING,
    "SIGNALING": s.RUNNING,
    "STAGE_OUT": s.RUNNING,
    "COMPLETED": s.ENDED,
    "FAILED": s.ENDED,
    "CANCELLED": s.CANCELLED,
    "REVOKED": s.CANCELLED,
    "SPECIAL_EXIT": s.ENDED,
    "TIMEOUT": s.TIMEOUT,
    "DEADLINE": s.SCHEDULER_FAILURE,
    "BOOT_FAIL": s.SCHEDULER_FAILURE,
    "LAUNCH_FAILED": s.SCHEDULER_FAILURE,
    "OUT_OF_MEMORY": s.OUT_OF_MEMORY,
    "NODE_FAIL": s.NODE_FAILURE,
    "PREEMPTED": s.PREEMPTED,
}


def _state(native: str, reason: str = "") -> SchedulerState:
    # sacct writes "CANCELLED by 1000"
    word = native.split()[0] if native.strip() else ""
    return SchedulerState(STATES.get(word, s.PENDING if word else s.ENDED), word, reason)


def _parse_table(stdout: str) -> dict[str, SchedulerState]:
    states: dict[str, SchedulerState] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 2 or not fields[0]:
            continue
        job_id = fields[0]
        if "." in job_id:  # job steps (123.batch) in sacct output
            continue
        states[job_id] = _state(fields[1], fields[2] if len(fields) > 2 else "")
    return states


class SlurmAdapter:
    name = "slurm"
    psij_executor = "slurm"
    detached = False
    job_name_attribute = "slurm.job-name"
    job_id_variable = "SLURM_JOB_ID"
    native_id_pattern = r"[0-9]+(_[0-9]+)?"  # a job, or an element of an array
    submit_program = "sbatch"

    def resource_shape(self, cpus: Optional[int]) -> dict[str, Any]:
        return {"process_count": 1, "cpu_cores_per_process": cpus}

    def status_command(self, ids: list[str]) -> list[str]:
        return [
            "squeue",
            "--noheader",
            "--states=all",
            "--jobs=" + ",".join(ids),
            "--format=%i|%T|%r",
        ]

    def parse_status(
        self, ids: list[str], returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        if returncode != 0:
            if "invalid job id" in stderr.lower():
                return {}  # none of the jobs is in the queue any more
            raise TransientSchedulerError(stderr.strip() or f"squeue exited with {returncode}")
        return _parse_table(stdout)

    def accounting_command(self, ids: list[str]) -> Optional[list[str]]:
        # the accounting database, else the job completion log (JobCompType=jobcomp/filetxt):
        # one command either way, so that a poll cycle stays at two commands at most
        jobs = "--jobs=" + ",".join(ids)
        query = f"--allocations --noheader --parsable2 {shlex.quote(jobs)} --format=JobID,State"
        return ["sh", "-c", f"sacct {query} 2>/dev/null || sacct --completion {query}"]

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        if returncode != 0:
            if is_transient(stderr):
                raise TransientSchedulerError(stderr.strip())
            return {}  # no accounting here: jobs that left the queue are unknown to Slurm
        return _parse_table(stdout)

    def cancel_command(self, native_id: str, job_name: str = "") -> list[str]:
        # --name: only the job of that id *and* name (a proxy naming another job cancels none)
        return ["scancel", *([f"--name={job_name}"] if job_name else []), native_id]
