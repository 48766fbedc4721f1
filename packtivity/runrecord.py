"""The run record: how one packtivity's command ended, as its job body wrote it.

``<workdir>/_packtivity/<step>-<run id>.run.json`` is written by the job body (``templates/``)
after the command ends, atomically, on the machine that ran it -- this one, or a batch node on
the shared file system. It is the truth about a run: a scheduler's own account can be wrong
(Slurm records failed PSI/J jobs as COMPLETED 0:0), the record cannot. No record means the
command never finished (not started yet, still running, or killed with SIGKILL).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any, Optional

from .errors import PacktivityError
from .hosts import Host

RECORD_FORMAT = "packtivity-run-record/1"
#: the fields the job body writes after the command ends (``templates/job.sh.mustache``); the
#: others come from :func:`record_header`.  Together they are :class:`RunRecord`'s fields.
RUN_FIELDS = ("exit_code", "signal", "start", "end", "host", "runtime_version", "batch_job_id")


def record_header(
    *,
    step: str,
    cwd: str,
    command_line: str,
    stdin: bool,
    runtime: Optional[str],
    image: Optional[dict[str, Any]],
) -> dict[str, Any]:
    """The fields of a run record known before the command runs (the job body writes them
    first, then :data:`RUN_FIELDS`)."""
    return {
        "format": RECORD_FORMAT,
        "step": step,
        "cwd": cwd,
        "command_line": command_line,
        "stdin": stdin,
        "runtime": runtime,
        "image": image,
    }


class RunRecordError(PacktivityError):
    """A run record that exists but cannot be read as one."""


@dataclass(frozen=True)
class RunRecord:
    step: str
    exit_code: int
    #: the signal the job body itself received (TERM, INT, HUP), e.g. a batch job cancelled
    signal: Optional[str]
    start: str  #: UTC, ISO 8601, seconds
    end: str
    host: Optional[str]
    cwd: str
    command_line: str  #: exactly what ran, one shell line
    stdin: bool  #: whether a script was fed on stdin
    runtime: Optional[str]  #: container runtime binary, None on the host
    runtime_version: Optional[str]
    image: Optional[dict[str, Any]]  #: reference, path, source, sha256
    batch_job_id: Optional[str]

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.signal is None

    def describe(self) -> str:
        how = f"exit code {self.exit_code}"
        if self.signal:
            how += f" after SIG{self.signal}"
        return f"{how} on {self.host or 'an unknown host'} at {self.end}"


def seconds_of(timestamp: str) -> float:
    """An ISO 8601 time -- a record's ``start``/``end``, a proxy's ``submitted`` -- as epoch
    seconds (UTC when it names no zone); NaN when it is not one."""
    try:
        when = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return float("nan")
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def parse_run_record(text: str, where: str) -> RunRecord:
    """A :class:`RunRecord` from the JSON text of ``where``; :class:`RunRecordError` otherwise."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise RunRecordError(f"run record {where} is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise RunRecordError(f"{where} is not a packtivity run record ({RECORD_FORMAT})")
    try:
        return RunRecord(
            step=str(data["step"]),
            exit_code=int(data["exit_code"]),
            signal=data.get("signal"),
            start=str(data["start"]),
            end=str(data["end"]),
            host=data.get("host"),
            cwd=str(data["cwd"]),
            command_line=str(data["command_line"]),
            stdin=bool(data.get("stdin")),
            runtime=data.get("runtime"),
            runtime_version=data.get("runtime_version"),
            image=data.get("image"),
            batch_job_id=data.get("batch_job_id"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RunRecordError(f"run record {where} lacks or garbles {error}") from None


def read_run_record(host: Host, path: str) -> Optional[RunRecord]:
    """The record at ``path`` on ``host``, or None when there is none (yet)."""
    try:
        text = host.read_text(path)
    except FileNotFoundError:
        return None
    return parse_run_record(text, f"{path} on {host.name}")
