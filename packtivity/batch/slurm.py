"""Slurm: ``squeue -j`` for jobs in the queue, ``sacct`` (or ``sacct -c``) once they left it.

Times are asked for as seconds since the epoch (``SLURM_TIME_FORMAT=%s``): the end time of a
finished job starts its grace period for a run record not yet visible on the shared storage.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Optional

from . import scheduler as s
from .resources import size_bytes
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


def _state(native: str, reason: str = "", end: str = "") -> SchedulerState:
    # sacct writes "CANCELLED by 1000"
    word = native.split()[0] if native.strip() else ""
    state = SchedulerState(STATES.get(word, s.PENDING if word else s.ENDED), word, reason)
    if state.final and end.isdigit():  # a pending or running job's %e is its expected end
        state = replace(state, ended_at=float(end))
    return state


#: the columns of each command's lines
SQUEUE_COLUMNS = ("id", "state", "reason", "end")  # --format=%i|%T|%r|%e
SACCT_COLUMNS = ("id", "state", "end")  # --format=JobID,State,End


def _parse_table(stdout: str, columns: tuple[str, ...]) -> dict[str, SchedulerState]:
    states: dict[str, SchedulerState] = {}
    for line in stdout.splitlines():
        row = dict(zip(columns, line.strip().split("|")))
        job_id = row.get("id", "")
        if not job_id or "state" not in row:
            continue
        if "." in job_id:  # job steps (123.batch) in sacct output
            continue
        states[job_id] = _state(row["state"], row.get("reason", ""), row.get("end", ""))
    return states


class SlurmAdapter:
    name = "slurm"
    psij_executor = "slurm"
    detached = False
    job_name_attribute = "slurm.job-name"
    job_id_variable = "SLURM_JOB_ID"
    native_id_pattern = r"[0-9]+(_[0-9]+)?"  # a job, or an element of an array
    submit_program = "sbatch"
    #: times in epoch seconds, in every status and accounting command's output
    command_environment = {"SLURM_TIME_FORMAT": "%s"}
    shared_storage = True

    def resource_shape(self, cpus: Optional[int]) -> dict[str, Any]:
        return {"process_count": 1, "cpu_cores_per_process": cpus}

    def status_command(self, ids: list[str]) -> list[str]:
        return [
            "squeue",
            "--noheader",
            "--states=all",
            "--jobs=" + ",".join(ids),
            "--format=%i|%T|%r|%e",
        ]

    def parse_status(
        self, ids: list[str], returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        if returncode != 0:
            if "invalid job id" in stderr.lower():
                return {}  # none of the jobs is in the queue any more
            raise TransientSchedulerError(stderr.strip() or f"squeue exited with {returncode}")
        return _parse_table(stdout, SQUEUE_COLUMNS)

    def accounting_commands(self, ids: list[str]) -> list[list[str]]:
        # the accounting database (slurmdbd), else the job completion log
        # (JobCompType=jobcomp/filetxt); the poller remembers which one answers
        query = [
            "--allocations",
            "--noheader",
            "--parsable2",
            "--jobs=" + ",".join(ids),
            "--format=JobID,State,End",
        ]
        return [["sacct", *query], ["sacct", "--completion", *query]]

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> Optional[dict[str, SchedulerState]]:
        if returncode != 0:
            if is_transient(stderr):
                raise TransientSchedulerError(stderr.strip())
            return None  # this source is not there ("accounting storage is disabled")
        return _parse_table(stdout, SACCT_COLUMNS)

    def refused_for_a_limit(self, message: str) -> bool:
        # sbatch: "QOSMaxSubmitJobPerUserLimit", "AssocMaxSubmitJobLimit", "AssocGrp...",
        # "Job violates accounting/QOS policy (job submit limit, ...)"
        return bool(re.search(r"\b(QOS|Assoc)(Max|Grp)\w*Limit\b|job submit limit", message))

    def usage_command(self, ids: list[str]) -> Optional[list[str]]:
        fields = "JobID,ReqMem,Timelimit,MaxRSS"
        return [
            "sacct",
            "--noheader",
            "--parsable2",
            f"--format={fields}",
            f"--jobs={','.join(ids)}",
        ]

    def parse_usage(self, returncode: int, stdout: str) -> dict[str, dict[str, str]]:
        """The allocation line has what was asked; its steps (``123.batch``) what was used:
        the largest MaxRSS of them."""
        usage: dict[str, dict[str, str]] = {}
        for line in stdout.splitlines() if returncode == 0 else []:
            fields = line.split("|")
            if len(fields) != 4:
                continue
            job, step = fields[0].partition(".")[::2]
            entry = usage.setdefault(job, {})
            if not step:
                entry.update(
                    {k: v for k, v in (("asked_memory", fields[1]), ("asked_time", fields[2])) if v}
                )
            elif fields[3] and _size(fields[3]) >= _size(entry.get("max_rss", "0")):
                entry["max_rss"] = fields[3]
        return usage

    def cancel_command(self, native_id: str, job_name: str = "") -> list[str]:
        # --name: only the job of that id *and* name (a proxy naming another job cancels none)
        return ["scancel", *([f"--name={job_name}"] if job_name else []), native_id]


def _size(text: str) -> float:
    """sacct's ``464K`` as bytes, 0 when it is not a size."""
    return size_bytes(text) or 0.0
