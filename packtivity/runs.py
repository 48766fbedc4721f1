"""A run: every step under some directories, found by the files packtivity keeps beside them.

Each step's work directory has ``_packtivity/``: the job body, its log, the run record
(``<step>.run.json``, written when the command ends) and, for a batch or detached step, its
proxy (``<step>.proxy.json``, written at submission).  A yadage work directory holds one such
directory per step; so does any tree of step work directories.  Finding them is one ``find``
on the host that holds them (this machine, or the cluster over ``--ssh``); asking where they
stand is one status poll per scheduler for all of them (:mod:`packtivity.batch.poller`).

Functions here return data; ``packtivity-util status|cancel|clean`` print it.
"""

from __future__ import annotations

import datetime
import json
import posixpath
from dataclasses import dataclass
from typing import Any, Optional

from .errors import BadInput, ProxyError
from .hosts import Host
from .protocol import Cancels, Proxy, Status, Watches, status_of
from .runrecord import RunRecord, RunRecordError, parse_run_record, seconds_of

#: the version of ``packtivity-util status --json``'s output
STATUS_FORMAT = "packtivity-status/1"
META = "_packtivity"


@dataclass(frozen=True)
class StepFiles:
    """One step's files in its ``_packtivity`` directory (None: not there)."""

    workdir: str
    step: str  #: ``<name>-<run id>``
    proxy: Optional[str]
    record: Optional[str]


@dataclass(frozen=True)
class StepRow:
    """Where one step stands, as ``status`` shows it."""

    files: StepFiles
    status: Status
    job: str  #: ``slurm 123``, ``pbs 7.server``, ``local 4242@...``; empty for a step run in place
    host: str  #: where its command ran (from the run record), empty before it ended
    elapsed: Optional[float]  #: seconds: start to end once ended, submission to now before
    proxy: Optional[Proxy] = None
    backend: Any = None
    record: Optional[RunRecord] = None  #: its current attempt's run record, once written


def host(ssh: Optional[str]) -> Host:
    """This machine, or the cluster of ``ssh`` through the configured SSH transport."""
    from .batch.resources import ssh_transport_from_config_file
    from .hosts import host_for

    return host_for(ssh, transport=ssh_transport_from_config_file() if ssh else "paramiko")


def poll_interval(rows: list[StepRow]) -> float:
    """Seconds until ``status --watch`` looks again: the shortest of the steps' pollers."""
    intervals = [row.backend.poll_interval() for row in rows if isinstance(row.backend, Watches)]
    return max(1.0, min(intervals or [2.0]))


def find_steps(host: Host, directories: list[str]) -> list[StepFiles]:
    """The steps under ``directories`` on ``host``, sorted by work directory and name: one
    ``find`` for all of them.  :class:`BadInput` for a directory that is not there."""
    for directory in directories:
        if not host.is_dir(directory):
            raise BadInput(f"{directory} is not a directory on {host.name}")
    argv = ["find", *directories, "-path", f"*/{META}/*", "-name", "*.json", "-print0"]
    found = host.run(argv)
    files: dict[tuple[str, str], dict[str, str]] = {}
    for path in filter(None, found.output.split("\0")):
        meta, name = posixpath.split(path)
        if posixpath.basename(meta) != META:
            continue  # deeper (PSI/J's own files)
        for suffix, kind in ((".proxy.json", "proxy"), (".run.json", "record")):
            if name.endswith(suffix):
                key = (posixpath.dirname(meta), name.removesuffix(suffix))
                files.setdefault(key, {})[kind] = path
    return [
        StepFiles(workdir, step, kinds.get("proxy"), kinds.get("record"))
        for (workdir, step), kinds in sorted(files.items())
    ]


def status(host: Host, steps: list[StepFiles]) -> list[StepRow]:
    """Where each step stands: a step with a proxy through its backend (every job watched
    first, so one status command per scheduler answers for all); a step run in place from its
    run record alone."""
    from . import waiting
    from .backendutils import load_proxy

    loaded: list[tuple[StepFiles, Any, Any, str]] = []
    for step in steps:
        if step.proxy is None:
            loaded.append((step, None, None, ""))
            continue
        try:
            data = json.loads(host.read_text(step.proxy))
            if isinstance(data, dict) and data.get("superseded_by"):
                continue  # an attempt retried: its successor has a row of its own
            proxy, backend = load_proxy(data)
        except (ValueError, ProxyError, FileNotFoundError) as error:
            loaded.append((step, None, None, f"{step.proxy} on {host.name}: {error}"))
            continue  # one unreadable proxy does not hide the other steps
        waiting.watch_all(backend, proxy)
        loaded.append((step, proxy, backend, ""))
    rows = []
    for step, proxy, backend, problem in loaded:
        if problem:
            state, job, record = Status("unknown", True, False, problem), "", None
        elif proxy is None:
            record = read_record(host, step.record)
            state, job = _record_status(record, step), ""
        else:
            state = status_of(backend, proxy)  # (may submit the next attempt: see retry.py)
            details = proxy.details() if hasattr(proxy, "details") else {}
            record = read_record(host, details.get("record", step.record))
            job = f"{details.get('backend', '')} {details.get('native_id') or '(waiting)'}"
            if int(details.get("attempt") or 1) > 1:
                job += f" (attempt {details['attempt']})"
        rows.append(
            StepRow(
                step,
                state,
                job.strip(),
                (record.host or "") if record else "",
                _elapsed(record, proxy),
                proxy,
                backend,
                record,
            )  # fmt: skip
        )
    return rows


def read_record(host: Host, path: Optional[str]) -> Optional[RunRecord]:
    """The run record at ``path`` on ``host``; None when there is none or it is not one."""
    if path is None:
        return None
    try:
        return parse_run_record(host.read_text(path), path)
    except (FileNotFoundError, RunRecordError):
        return None  # replaced meanwhile by a new run, or not a record: the proxy answers


def _record_status(record: Optional[RunRecord], step: StepFiles) -> Status:
    if record is None:
        return Status("unknown", True, False, f"{step.record} is not a readable run record")
    if record.succeeded:
        return Status("succeeded", True, True, "", 0)
    return Status("failed", True, False, f"failed with {record.describe()}", record.exit_code)


def _elapsed(record: Optional[RunRecord], proxy: Any) -> Optional[float]:
    if record is not None:
        return seconds_of(record.end) - seconds_of(record.start)
    submitted = proxy.details().get("submitted") if hasattr(proxy, "details") else None
    if submitted:
        now = datetime.datetime.now(datetime.timezone.utc).timestamp()
        return now - seconds_of(submitted)
    return None


def cancel(rows: list[StepRow]) -> list[StepRow]:
    """Cancel the job of every step that has not finished; the steps it was asked of."""
    asked = []
    for row in rows:
        if row.status.finished or row.proxy is None:
            continue
        if not isinstance(row.backend, Cancels):
            raise BadInput(f"{row.files.proxy}: this backend's steps cannot be cancelled")
        row.backend.cancel(row.proxy)
        asked.append(row)
    return asked


def json_status(rows: list[StepRow]) -> dict[str, Any]:
    """``packtivity-util status --json``::

        {"format": "packtivity-status/1", "counts": {STATE: N, ...},
         "steps": [{"workdir": DIR, "step": NAME, "status": STATE, "finished": BOOL,
                    "succeeded": BOOL, "job": STR|null, "host": STR|null,
                    "elapsed": SECONDS|null, "exit_code": INT|null, "message": STR|null,
                    "proxy": PATH|null, "record": PATH|null}, ...]}

    New keys may be added within a format version; a change to these is a new version.
    """
    return {
        "format": STATUS_FORMAT,
        "counts": counts(rows),
        "steps": [
            {
                "workdir": row.files.workdir,
                "step": row.files.step,
                "status": row.status.state,
                "finished": bool(row.status.finished),
                "succeeded": bool(row.status.succeeded),
                "job": row.job or None,
                "host": row.host or None,
                "elapsed": None if row.elapsed is None else round(row.elapsed, 1),
                "exit_code": row.status.exit_code,
                "message": row.status.message or None,
                "proxy": row.files.proxy,
                "record": row.files.record,
            }
            for row in rows
        ],
    }


def counts(rows: list[StepRow]) -> dict[str, int]:
    result: dict[str, int] = {}
    for row in rows:
        result[row.status.state] = result.get(row.status.state, 0) + 1
    return dict(sorted(result.items()))


def table(rows: list[StepRow]) -> str:
    """The rows as an aligned text table, a failure's message under its row, then the counts."""
    header = ("STEP", "STATE", "JOB", "HOST", "ELAPSED", "EXIT", "WORKDIR")
    lines = [header]
    for row in rows:
        exit_code = "" if row.status.exit_code is None else str(row.status.exit_code)
        lines.append((row.files.step, row.status.state, row.job, row.host,
                      _duration(row.elapsed), exit_code, row.files.workdir))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = []
    for index, line in enumerate(lines):
        text.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1])
        failed = rows[index - 1].status if index else None
        if failed is not None and failed.finished and not failed.succeeded:
            text.append(f"    {failed.message}")
    summary = ", ".join(f"{n} {state}" for state, n in counts(rows).items())
    text.append(f"{len(rows)} steps: {summary or 'none'}")
    return "\n".join(line.rstrip() for line in text)


def _duration(seconds: Optional[float]) -> str:
    from .waiting import clock

    return "" if seconds is None or seconds != seconds else clock(seconds)  # NaN: unparsed


def meta_directories(host: Host, directories: list[str]) -> list[str]:
    """Every ``_packtivity`` directory under ``directories``: what ``clean`` removes
    (packtivity's own files: job bodies, logs, run records, proxies; never a step's outputs),
    also those of steps that never ran (a workflow's later steps leave their logs)."""
    argv = ["find", *directories, "-type", "d", "-name", META, "-prune", "-print0"]
    return sorted(filter(None, host.run(argv).output.split("\0")))


# ---- rerun: a step again, from its record and the proxy kept beside it --------------------


@dataclass(frozen=True)
class Rerun:
    """What ``packtivity-util rerun`` runs: the recorded step's spec, parameters and read-only
    inputs, in a new work directory; ``notes`` say what differs before it runs."""

    spec: dict[str, Any]
    parameters: dict[str, Any]
    state_options: tuple[str, tuple[str, ...], tuple[str, ...]]
    backend: str
    metadata: dict[str, Any]
    record: Optional[RunRecord]
    notes: list[str]


def rerun_plan(host: Host, path: str, workdir: str, backend: Optional[str]) -> Rerun:
    """The rerun of the step whose run record (or kept proxy) is ``path`` on ``host``;
    :class:`BadInput` when it cannot be rerun (no proxy beside it, the same work directory)."""
    from . import __version__
    from .jobscript import proxy_path

    if path.endswith(".run.json"):
        record_path, kept = path, proxy_path(path)
    elif path.endswith(".proxy.json"):
        record_path, kept = path.removesuffix(".proxy.json") + ".run.json", path
    else:
        raise BadInput(f"{path}: give a step's run record (*.run.json) or its *.proxy.json")
    try:
        details = json.loads(host.read_text(kept))["proxydetails"]
        spec, parameters, state = details["spec"], details["parameters"], details["state"]
        readwrite = [entry["path"] for entry in state["readwrite"]]
        readonly = tuple(entry["path"] for entry in state.get("readonly", []))
    except FileNotFoundError:
        raise BadInput(
            f"{path}: there is no proxy beside it ({kept}); a step run in place keeps none, and "
            "its run record alone does not hold the spec and parameters"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise BadInput(f"{kept} is not a step's proxy ({error})") from None
    resolved = host.realpaths([workdir, *readwrite])  # (a relative -w, links: as the host sees)
    if resolved[0] in resolved[1:]:
        raise BadInput(
            f"-w {workdir}: the recorded run's own work directory (its outputs would be "
            "replaced): choose another"
        )
    record = read_record(host, record_path)
    notes = []
    image = (record.image if record else None) or {}
    if image.get("path") and image.get("sha256"):
        if not host.exists(image["path"]):
            notes.append(f"rerun: the image {image['path']} is gone; it is resolved again")
        elif (now := host.sha256(image["path"])) != image["sha256"]:
            notes.append(
                f"rerun: the image {image['path']} is not the one the record ran with (sha256 "
                f"{image['sha256'][:12]}..., now {now[:12]}...)"
            )
    if details.get("packtivity_version") not in (None, __version__):
        notes.append(
            f"rerun: packtivity {__version__} (the record's run: {details['packtivity_version']})"
        )
    return Rerun(
        spec=spec,
        parameters=parameters,
        state_options=("", (workdir,), readonly),
        backend=backend or str(details.get("backend") or "defaultsync"),
        metadata={"name": (details.get("metadata") or {}).get("step") or "packtivity"},
        record=record,
        notes=notes,
    )


def rerun_differences(host: Host, again: Rerun, workdir: str) -> list[str]:
    """After the rerun: where it ran, beside where the record says the first run did."""
    if again.record is None or not again.record.host:
        return []
    newest = sorted(host.glob(posixpath.join(workdir, META, "*.run.json")))
    records = [r for r in (read_record(host, p) for p in newest) if r is not None]
    hosts = {r.host for r in records if r.host}
    if hosts and hosts != {again.record.host}:
        return [f"rerun: ran on {', '.join(sorted(hosts))} (the record's run: {again.record.host})"]
    return []
