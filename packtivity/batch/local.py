"""``-b local``: the job body runs detached, in its own session, on the host (started by
:mod:`packtivity.batch.detached`, no scheduler).

A job is a process *and its start time*: the native id is ``PID@START`` (``START`` is ``ps``'s
``lstart`` with ``_`` for spaces).  A process id alone is not an identity: once the job has
ended, the system reuses it for an unrelated process, which must never be reported as the job,
let alone signalled.  The queue is ``ps``; a process that is gone, or whose start time is not
the job's, has ended, and the run record says how.  Cancelling checks the identity again, in
the same command, right before it signals the job's process group.  (``lstart`` has one
second's resolution: a process id reused within the second the job started is not told apart;
that takes the system wrapping around its whole process id range within that second.)
"""

from __future__ import annotations

import re
from typing import Any, Optional

from . import scheduler as s
from .scheduler import SchedulerState, TransientSchedulerError

#: ``ps`` with a fixed locale: ``lstart`` is then ``Wed Dec  2 08:18:57 2026`` everywhere
PS = ["env", "LC_ALL=C", "ps"]
#: the start time of an id whose process ended before its start time could be read
UNKNOWN_START = "ended"


def local_id(pid: str, lstart: str) -> str:
    """The native id of process ``pid`` that ``ps`` says started at ``lstart``."""
    start = "_".join(lstart.split()) or UNKNOWN_START
    return f"{pid}@{start}"


def split_id(native_id: str) -> tuple[str, str]:
    """``(pid, lstart)`` of a native id (``lstart`` with single spaces)."""
    pid, _, start = native_id.partition("@")
    return pid, start.replace("_", " ")


class LocalAdapter:
    name = "local"
    psij_executor = "local"
    detached = True
    job_name_attribute = ""
    job_id_variable = ""
    submit_program = "setsid"
    shared_storage = False
    command_environment: dict[str, str] = {}
    #: a process id above 1 (never the whole machine, ``kill -- -1``, nor one's own process
    #: group, ``kill -- -0``) and its start time
    native_id_pattern = r"([2-9]|[1-9][0-9]+)@[A-Za-z0-9_:]+"

    def resource_shape(self, cpus: Optional[int]) -> dict[str, Any]:
        return {"process_count": 1, "cpu_cores_per_process": cpus}

    def status_command(self, ids: list[str]) -> list[str]:
        pids = sorted({split_id(i)[0] for i in ids}, key=int)
        return [*PS, "-o", "pid=,stat=,lstart=", "-p", ",".join(pids)]

    def parse_status(
        self, ids: list[str], returncode: int, stdout: str, stderr: str
    ) -> dict[str, SchedulerState]:
        if returncode not in (0, 1) or (returncode == 1 and stderr.strip()):
            raise TransientSchedulerError(stderr.strip() or f"ps exited with {returncode}")
        running: dict[str, tuple[str, str]] = {}
        for line in stdout.splitlines():
            fields = line.split()
            if len(fields) >= 3:
                running[fields[0]] = (fields[1], " ".join(fields[2:]))
        # a process that is gone, a zombie, or another process that got the id has ended:
        # there is no queue to forget it later
        states = {}
        for native_id in ids:
            pid, start = split_id(native_id)
            stat, started = running.get(pid, ("", ""))
            if stat and not stat.startswith("Z") and started == start:
                states[native_id] = SchedulerState(s.RUNNING, stat)
            elif stat and started != start:
                states[native_id] = SchedulerState(s.ENDED, "gone (its process id is reused)")
            else:
                states[native_id] = SchedulerState(s.ENDED, "gone")
        return states

    def accounting_commands(self, ids: list[str]) -> list[list[str]]:
        return []

    def parse_accounting(
        self, returncode: int, stdout: str, stderr: str
    ) -> Optional[dict[str, SchedulerState]]:
        return None

    def refused_for_a_limit(self, message: str) -> bool:
        return False  # no scheduler, no limits

    def usage_command(self, ids: list[str]) -> Optional[list[str]]:
        return None  # no scheduler keeps an account

    def parse_usage(self, returncode: int, stdout: str) -> dict[str, dict[str, str]]:
        return {}

    def cancel_command(self, native_id: str, job_name: str = "") -> list[str]:
        """Signal the job's process group, if the process of that id is still the job."""
        pid, start = split_id(native_id)
        if not re.fullmatch(self.native_id_pattern, native_id):
            raise ValueError(f"not a -b local job id: {native_id!r}")
        check = (
            'now=$(LC_ALL=C ps -o lstart= -p "$1") || { echo "the job has ended" >&2; exit 1; }; '
            '[ "$(echo $now)" = "$2" ] || { echo "the job has ended; process $1 is another '
            'process now" >&2; exit 1; }; exec kill -TERM -- "-$1"'
        )
        return ["sh", "-c", check, "sh", pid, start]
