"""PBS Pro: ``qstat -f -F json -x`` reports on queued, running and finished jobs alike.

Tested on the test cluster's "PBS commands on Slurm" layer (Slurm's Torque wrappers plus a
``qstat -F json`` adapter) and against recorded JSON; not against a PBS server.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from . import scheduler as s
from .scheduler import SchedulerState, TransientSchedulerError, is_transient

#: PBS Pro job_state letters -> normalised states (F: finished, look at Exit_status)
STATES = {
    "Q": s.PENDING,
    "H": s.PENDING,
    "W": s.PENDING,
    "T": s.PENDING,
    "S": s.PENDING,
    "U": s.PENDING,
    "M": s.PENDING,
    "R": s.RUNNING,
    "E": s.RUNNING,
    "B": s.RUNNING,
    "X": s.ENDED,
    "F": s.ENDED,
}
#: PBS Pro's JOB_EXEC_KILL_* exit statuses: limits the server enforced
EXIT_STATUSES = {-29: s.TIMEOUT, -27: s.OUT_OF_MEMORY, -26: s.OUT_OF_MEMORY, -1: s.NODE_FAILURE}


def _state(job: dict[str, Any]) -> SchedulerState:
    letter = str(job.get("job_state", ""))
    state = STATES.get(letter, s.PENDING)
    comment = str(job.get("comment", ""))
    if state == s.ENDED and "Exit_status" in job:
        status = int(job["Exit_status"])
        if status in EXIT_STATUSES:
            state = EXIT_STATUSES[status]
        elif status >= 256:  # killed by signal status-256: qdel
            state = s.CANCELLED
    return SchedulerState(state, letter, comment)


class PbsAdapter:
    name = "pbs"
    psij_executor = "pbs"
    detached = False
    job_name_attribute = "pbs.N"
    job_id_variable = "PBS_JOBID"
    submit_program = "qsub"
    shared_storage = True
    command_environment: dict[str, str] = {}
    native_id_pattern = r"[0-9]+(\[[0-9]*\])?(\.[A-Za-z0-9_.-]+)?"  # 12.server, 12[].server

    def resource_shape(self, cpus: Optional[int]) -> dict[str, Any]:
        if not cpus:
            return {"process_count": 1, "cpu_cores_per_process": cpus}
        # PSI/J's PBS Pro template takes ncpus from the processes per node and ignores cores per
        # process: ask for N single-core "processes" (the single launcher still runs one)
        return {"node_count": 1, "processes_per_node": cpus}

    def status_command(self, ids: list[str]) -> list[str]:
        return ["qstat", "-f", "-F", "json", "-x", *ids]

    def parse_status(
        self, ids: list[str], returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        if returncode != 0 and "unknown job id" not in stderr.lower():
            raise TransientSchedulerError(stderr.strip() or f"qstat exited with {returncode}")
        if not stdout.strip():
            return {}
        try:
            jobs = json.loads(stdout).get("Jobs") or {}
        except ValueError as error:
            if is_transient(stderr):
                raise TransientSchedulerError(stderr.strip()) from None
            raise TransientSchedulerError(f"qstat printed no JSON: {error}") from None
        return {job_id: _state(job) for job_id, job in jobs.items()}

    def accounting_commands(self, ids: list[str]) -> list[list[str]]:
        return []  # qstat -x already reports finished jobs

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> Optional[dict[str, SchedulerState]]:
        return None

    def refused_for_a_limit(self, message: str) -> bool:
        # qsub: "would exceed queue generic's per-user limit of jobs in 'Q' state",
        # "Maximum number of jobs already in queue"
        lowered = message.lower()
        return "would exceed" in lowered or "maximum number of jobs already in queue" in lowered

    def cancel_command(self, native_id: str, job_name: str = "") -> list[str]:
        return ["qdel", native_id]  # (qdel has no name filter; the id's form is checked)
