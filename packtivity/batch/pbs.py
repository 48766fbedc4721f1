"""PBS Pro / OpenPBS: ``qstat -f -F json -x`` reports on queued, running and finished jobs.

Tested against the test cluster's real OpenPBS 23.06.06 and recorded JSON from it.  What real
PBS reports for each way a job ends (job history on):

* finished by itself: ``F``, substate 92 (finished) or 93 (failed), ``Exit_status`` the job
  script's -- 0 for PSI/J's scripts whatever the command did (the run record has its code);
* walltime: ``F``, substate 93, ``Exit_status`` -29 (JOB_EXEC_KILL_WALLTIME);
* ``qdel`` of a running job: ``F``, substate 91 (terminated), ``Exit_status`` 271 (256 +
  SIGTERM) or the job script's own (0 when its shell exits on SIGTERM, as recorded here); of a
  queued job: ``F``, substate 91, no ``Exit_status``: substate 91 is the cancel;
* an unknown id: ``qstat`` exits 153 ("Unknown Job Id"), and still prints the known ones.

Times are printed as ``ctime`` strings in the client's time zone: the commands run with
``TZ=UTC``, so that ``obittime`` (when the job ended) reads the same on any cluster.
"""

from __future__ import annotations

import calendar
import json
import time
from dataclasses import replace
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


#: substate of a finished job that was deleted (qdel), queued or running
TERMINATED = 91


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
    if state == s.ENDED and _int(job.get("substate")) == TERMINATED:
        state = s.CANCELLED  # qdel of a queued job: no Exit_status at all
    result = SchedulerState(state, letter, comment)
    if result.final and isinstance(job.get("obittime"), str):
        result = replace(result, ended_at=_utc_seconds(job["obittime"]))
    return result


def _int(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _utc_seconds(text: str) -> Optional[float]:
    """``Wed Dec  2 13:49:29 2026`` (printed with TZ=UTC) as seconds since the epoch."""
    try:
        return float(calendar.timegm(time.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")))
    except ValueError:
        return None


class PbsAdapter:
    name = "pbs"
    psij_executor = "pbs"
    detached = False
    job_name_attribute = "pbs.N"
    job_id_variable = "PBS_JOBID"
    submit_program = "qsub"
    shared_storage = True
    #: times (obittime) in UTC, whatever the cluster's time zone
    command_environment = {"TZ": "UTC"}
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

    def usage_command(self, ids: list[str]) -> Optional[list[str]]:
        return self.status_command(ids)  # qstat -x -f: Resource_List and resources_used

    def parse_usage(self, returncode: int, stdout: str) -> dict[str, dict[str, str]]:
        try:
            jobs = json.loads(stdout).get("Jobs") or {} if stdout.strip() else {}
        except ValueError:
            return {}
        usage = {}
        for job_id, job in jobs.items():
            asked, used = job.get("Resource_List") or {}, job.get("resources_used") or {}
            entry = {"asked_memory": asked.get("mem"), "asked_time": asked.get("walltime"),
                     "max_rss": used.get("mem")}  # fmt: skip
            usage[job_id] = {k: str(v) for k, v in entry.items() if v}
        return usage

    def cancel_command(self, native_id: str, job_name: str = "") -> list[str]:
        return ["qdel", native_id]  # (qdel has no name filter; the id's form is checked)
