"""``-b local``: the job body runs detached, in its own session, on the host (started by
:mod:`packtivity.batch.detached`, no scheduler).

The native id is the job body's process id (it is also its process group: ``setsid``).  The
queue is ``ps``; a process that is gone has ended, and its run record says how.
"""

from __future__ import annotations

from typing import Any, Optional

from . import scheduler as s
from .scheduler import SchedulerState, TransientSchedulerError


class LocalAdapter:
    name = "local"
    psij_executor = "local"
    detached = True
    job_name_attribute = ""
    job_id_variable = ""

    def resource_shape(self, cpus: Optional[int]) -> dict[str, Any]:
        return {"process_count": 1, "cpu_cores_per_process": cpus}

    def status_command(self, ids: list[str]) -> list[str]:
        return ["ps", "-o", "pid=,stat=", "-p", ",".join(ids)]

    def parse_status(
        self, ids: list[str], returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        if returncode not in (0, 1) or (returncode == 1 and stderr.strip()):
            raise TransientSchedulerError(stderr.strip() or f"ps exited with {returncode}")
        # a process that is gone (or a zombie) has ended: there is no queue to forget it later
        states = {pid: SchedulerState(s.ENDED, "gone") for pid in ids}
        for line in stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and not fields[1].startswith("Z"):
                states[fields[0]] = SchedulerState(s.RUNNING, fields[1])
        return states

    def accounting_command(self, ids: list[str]) -> Optional[list[str]]:
        return None

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        return {}

    def cancel_command(self, native_id: str) -> list[str]:
        return ["kill", "-TERM", "--", f"-{native_id}"]  # the job's whole process group
