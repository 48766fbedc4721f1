"""The job body: the one shell script that runs one packtivity's command and records how it ended.

A :class:`JobBody` says what to run (an argument list, optionally a script fed on stdin), where
(``cwd``), and what to record; :func:`render_job_body` turns it into a POSIX shell script from
``templates/job.sh.mustache``.  That script is the same whether it runs on this machine or as a
batch job: it runs the command once and writes the run record (:mod:`packtivity.runrecord`) next
to the step's logs.
"""

from __future__ import annotations

import json
import posixpath
import re
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import StepFailed
from .hosts import Host
from .runrecord import record_header
from .templating import render

#: what a step name given on the command line (``--name``) may hold: it names files and jobs
STEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def with_run_id(metadata: Optional[dict[str, Any]]) -> dict[str, Any]:
    """A copy of a step's metadata whose ``name`` names this run alone: ``<name>-<6 hex>``.

    Every file of the run (job body, logs, run record, par_mounts files) and its batch job are
    named by it, so two steps run or submitted in one work directory never share a file (a job
    still queued runs its own body; a proxy reads its own record).  The name as given stays in
    ``step``.
    """
    metadata = dict(metadata or {})
    step = str(metadata.get("name") or "packtivity")
    metadata.setdefault("step", step)
    metadata["name"] = f"{step}-{secrets.token_hex(3)}"
    return metadata


def job_argv(job: dict[str, Any], envscript: str = "") -> tuple[list[str], Optional[str]]:
    """The argv and stdin text that run a job (a process handler's output) on a POSIX shell.

    A command runs as ``sh -c COMMAND``; a script is fed on stdin to ``sh -c INTERPRETER`` (so an
    interpreter may carry arguments, e.g. ``python3 -u``).  An ``envscript`` is sourced first.
    """
    prefix = f". {shlex.quote(envscript)} && " if envscript else ""
    if "command" in job:
        return ["sh", "-c", prefix + str(job["command"])], None
    if "script" in job:
        return ["sh", "-c", prefix + str(job.get("interpreter", "sh"))], str(job["script"])
    raise StepFailed(f"do not know how to run job {job!r:.200}")


def describe_job(job: dict[str, Any]) -> str:
    if "command" in job:
        return f"command: {job['command']}"
    return f"script for '{job.get('interpreter', 'sh')}':\n{job.get('script', '')}"


@dataclass(frozen=True)
class ImageInfo:
    """The container image a job runs in, as the run record states it."""

    reference: str  #: what the spec asked for, ``image:tag``
    path: str  #: the SIF file (or sandbox directory) the runtime was given
    source: str  #: how it was found: "image map", "cache", "local", "pulled"
    sha256: Optional[str]  #: of the SIF file; None for a sandbox directory

    def json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "path": self.path,
            "source": self.source,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class JobBody:
    """Everything the job body script needs; paths are paths on the host that runs it."""

    step: str
    cwd: str
    argv: list[str]
    script_path: str  #: where the body is written
    record_path: str  #: where the body writes the run record
    stdin: Optional[str] = None  #: text fed to the command's stdin (a script), or none
    runtime: Optional[str] = None  #: container runtime binary, None on the host
    image: Optional[ImageInfo] = None
    #: output file for runs with nobody watching (batch jobs); None: output to the terminal
    logfile: Optional[str] = None
    files: dict[str, str] = field(default_factory=dict)  #: other files to write first
    #: the variable holding the batch job's id where the body runs (``SLURM_JOB_ID``), or None
    job_id_variable: Optional[str] = None

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)


def _heredoc_delimiter(text: str) -> str:
    lines = set(text.splitlines())
    delimiter, counter = "PACKTIVITY_STDIN", 0
    while delimiter in lines:
        counter += 1
        delimiter = f"PACKTIVITY_STDIN_{counter}"
    return delimiter


def render_job_body(body: JobBody) -> str:
    """The job body script.  It exits with the command's exit code (128+N after signal N)."""
    from . import __version__

    static_json = json.dumps(
        record_header(
            step=body.step,
            cwd=body.cwd,
            command_line=body.command_line,
            stdin=body.stdin is not None,
            runtime=body.runtime,
            image=body.image.json() if body.image else None,
        ),
        sort_keys=True,
    )
    stdin = body.stdin
    if stdin is not None and stdin.endswith("\n"):
        stdin = stdin[:-1]  # the here-document adds the final newline back
    return render(
        "job.sh.mustache",
        {
            "step": body.step.replace("\n", " "),
            "version": __version__,
            "record_path": shlex.quote(body.record_path),
            "logfile": shlex.quote(body.logfile) if body.logfile else "",
            "runtime": shlex.quote(body.runtime) if body.runtime else "",
            "cwd": shlex.quote(body.cwd),
            "command_line": body.command_line,
            "has_stdin": stdin is not None,
            "stdin": stdin or "",
            "stdin_delimiter": _heredoc_delimiter(stdin or ""),
            "record_fields": shlex.quote(static_json[:-1]),
            "job_id": f'"${{{body.job_id_variable}:-}}"' if body.job_id_variable else "''",
        },
    )


def host_job_body(job: dict[str, Any], cwd: str, metadir: str, step: str) -> JobBody:
    """The job body of a step that runs on the host (``localproc-env``)."""
    argv, stdin_text = job_argv(job)
    script_path, record_path = job_paths(metadir, step)
    return JobBody(
        step=step,
        cwd=cwd,
        argv=argv,
        stdin=stdin_text,
        script_path=script_path,
        record_path=record_path,
    )


def write_job_body(body: JobBody, host: Host) -> None:
    """Write the body and the files it needs on ``host``, and remove a previous run record
    (so that only this run's can be read)."""
    for path, content in body.files.items():
        host.write_text(path, content)
    host.write_text(body.script_path, render_job_body(body))
    host.remove(body.record_path)


def job_paths(metadir: str, step: str) -> tuple[str, str]:
    """``(script_path, record_path)`` of a step in its meta directory (``_packtivity``)."""
    return posixpath.join(metadir, f"{step}.job.sh"), posixpath.join(metadir, f"{step}.run.json")


def proxy_path(record_path: str) -> str:
    """Where a batch step's proxy is kept beside its run record: ``<step>.proxy.json`` (the
    JSON ``--async`` writes; :mod:`packtivity.runs` finds every step of a run by these)."""
    return record_path.removesuffix(".run.json") + ".proxy.json"
