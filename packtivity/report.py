"""``packtivity-util report``: one self-contained HTML file about every step of a run.

No script, no stylesheet or font from the network: the page is static HTML with inline CSS and
an SVG timeline, readable in any browser, offline, years later.  It shows every step (state,
job, host, times, the resources it asked for against what it used), a timeline of the run
(queued, ran, ended; coloured by outcome), each failure with its message and the tail of its
log, and the images the steps ran in, by content digest.
"""

from __future__ import annotations

import datetime
import html
import logging
import posixpath
from dataclasses import dataclass
from typing import Any, Optional

from .errors import PacktivityError
from .hosts import Host
from .protocol import ReportsUsage
from .runrecord import RunRecord, seconds_of
from .runs import StepRow, counts

logger = logging.getLogger(__name__)

#: the first line of every report: what ``report -o`` may replace
MARKER = "<!-- packtivity-report -->"
LOG_LINES = 20
COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#757575",
    "timeout": "#ef6c00",
    "out_of_memory": "#ef6c00",
    "node_failure": "#6a1b9a",
    "preempted": "#6a1b9a",
    "unknown": "#424242",
    "running": "#1565c0",
    "pending": "#90caf9",
    "ending": "#1565c0",
}


@dataclass(frozen=True)
class StepView:
    """One step, as the report shows it."""

    row: StepRow
    record: Optional[RunRecord]
    submitted: Optional[float]
    started: Optional[float]
    ended: Optional[float]
    request: dict[str, Any]
    log_tail: str


def collect(host: Host, rows: list[StepRow]) -> list[StepView]:
    """What the report needs of each step beyond its row (:func:`packtivity.runs.status`, with
    the run record it read): times, what it asked for and used (one accounting command per
    scheduler and host) and, for a failure, the tail of its log."""
    usage: dict[str, dict[str, str]] = {}
    backends: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}
    for row in rows:  # one command per scheduler and host (each proxy loads its own backend)
        if isinstance(row.backend, ReportsUsage) and row.proxy is not None:
            key = (type(row.backend), getattr(row.backend, "scheduler", None),
                   id(getattr(row.backend, "host", row.backend)))  # fmt: skip
            backends.setdefault(key, (row.backend, []))[1].append(row.proxy)
    for backend, proxies in backends.values():
        try:
            usage.update(backend.usage(proxies))
        except (PacktivityError, OSError) as error:  # the report is made without it
            logger.warning("no accounting for the report: %s", error)
    views = []
    for row in rows:
        details: dict[str, Any] = getattr(row.proxy, "details", dict)()
        used = usage.get(str(details.get("native_id")), {})
        record = row.record
        submitted = seconds_of(details["submitted"]) if details.get("submitted") else None
        tail = ""
        if row.status.finished and not row.status.succeeded:
            log = details.get("log") or posixpath.join(
                row.files.workdir, "_packtivity", f"{row.files.step}.run.log"
            )
            try:
                tail = "\n".join(host.read_text(log).splitlines()[-LOG_LINES:])
            except (FileNotFoundError, OSError, UnicodeDecodeError):
                tail = ""
        views.append(
            StepView(
                row,
                record,
                submitted,
                seconds_of(record.start) if record else None,
                seconds_of(record.end) if record else None,
                {**{k: v for k, v in (details.get("request") or {}).items() if v}, **used},
                tail,
            )  # fmt: skip
        )
    return views


def render(views: list[StepView], title: str, now: Optional[float] = None) -> str:
    """The report as one HTML document (see the module docstring)."""
    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc).timestamp()
    summary = ", ".join(f"{n} {state}" for state, n in counts([v.row for v in views]).items())
    parts = [
        MARKER,
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p id="summary">{len(views)} steps: {_e(summary or "none")}. Generated '
        f"{_when(now)} by packtivity.</p>",
        '<h2 id="timeline-title">Timeline</h2>',
        _timeline(views, now),
        '<h2>Steps</h2><table id="steps"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in _HEADERS)
        + "</tr></thead><tbody>",
        *(_row(view) for view in views),
        "</tbody></table>",
        _failures(views),
        _images(views),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


_HEADERS = ("step", "state", "job", "host", "submitted", "started", "ended", "elapsed",
            "walltime asked", "memory asked", "memory used (max RSS)", "exit",
            "work directory")  # fmt: skip

_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212121}"
    "table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #e0e0e0;"
    "padding:2px 6px;text-align:left;white-space:nowrap}th{background:#f5f5f5}"
    "pre{background:#fafafa;border:1px solid #e0e0e0;padding:6px;overflow:auto;max-height:20em}"
    ".state{font-weight:600}.failure{margin-bottom:1em}"
    + "".join(f".s-{state}{{color:{colour}}}" for state, colour in COLOURS.items())
)


def _row(view: StepView) -> str:
    row, status = view.row, view.row.status
    cells = [
        row.files.step, status.state, row.job, row.host, _when(view.submitted),
        _when(view.started), _when(view.ended), _duration(view),
        str(view.request.get("walltime") or view.request.get("asked_time") or ""),
        str(view.request.get("memory") or view.request.get("asked_memory") or ""),
        str(view.request.get("max_rss") or ""),
        "" if status.exit_code is None else str(status.exit_code), row.files.workdir,
    ]  # fmt: skip
    tds = "".join(
        f'<td class="state s-{_e(status.state)}">{_e(c)}</td>' if i == 1 else f"<td>{_e(c)}</td>"
        for i, c in enumerate(cells)
    )
    return f'<tr id="step-{_e(row.files.step)}">{tds}</tr>'


def _timeline(views: list[StepView], now: float) -> str:
    """An SVG: a row per step, a pale bar while queued, a coloured one while it ran."""
    times = [t for v in views for t in (v.submitted, v.started, v.ended) if t is not None]
    if not times:
        return '<svg id="timeline" width="10" height="10"></svg>'
    begin, end = min(times), max(max(times), now if any(not v.row.status.finished
                                                        for v in views) else 0)  # fmt: skip
    span = max(end - begin, 1.0)
    label, width, height = 220, 900, 14
    svg = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{label + width + 10}" '
           f'height="{len(views) * height + 24}" font-size="10">']  # fmt: skip
    for i, view in enumerate(views):
        y = i * height + 2
        svg.append(f'<text x="0" y="{y + 9}">{_e(view.row.files.step[:36])}</text>')
        colour = COLOURS.get(view.row.status.state, "#424242")
        queued_from = view.submitted if view.submitted is not None else view.started
        ran_from = view.started if view.started is not None else None
        ran_to = (
            view.ended if view.ended is not None else (None if view.row.status.finished else now)
        )
        if queued_from is not None:
            queued_to = ran_from if ran_from is not None else (ran_to or queued_from)
            svg.append(_bar("queued", queued_from, queued_to, begin, span, label, width, y,
                            height, "#cfd8dc"))  # fmt: skip
        if ran_from is not None and ran_to is not None:
            svg.append(_bar(view.row.status.state, ran_from, ran_to, begin, span, label, width,
                            y, height, colour))  # fmt: skip
        elif ran_to is not None and queued_from is not None and not view.row.status.finished:
            svg.append(_bar(view.row.status.state, queued_from, ran_to, begin, span, label,
                            width, y, height, colour, opacity=0.35))  # fmt: skip
    axis = len(views) * height + 16
    svg.append(f'<text x="{label}" y="{axis}">{_when(begin)}</text>')
    svg.append(f'<text x="{label + width}" y="{axis}" text-anchor="end">{_when(end)}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _bar(kind: str, start: float, stop: float, begin: float, span: float, label: int,
         width: int, y: int, height: int, colour: str, opacity: float = 1.0) -> str:  # fmt: skip
    x = label + (start - begin) / span * width
    w = max((stop - start) / span * width, 1.5)
    return (
        f'<rect class="bar {kind}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{height - 4}" '
        f'fill="{colour}" fill-opacity="{opacity}"><title>{_e(kind)}</title></rect>'
    )


def _failures(views: list[StepView]) -> str:
    failed = [v for v in views if v.row.status.finished and not v.row.status.succeeded]
    if not failed:
        return '<h2>Failures</h2><p id="failures">None.</p>'
    items = [
        f'<div class="failure" id="failure-{_e(v.row.files.step)}"><b>{_e(v.row.files.step)}'
        f"</b>: {_e(v.row.status.message)}"
        + (f"<pre>{_e(v.log_tail)}</pre>" if v.log_tail else "")
        + "</div>"
        for v in failed
    ]
    return '<h2>Failures</h2><div id="failures">' + "".join(items) + "</div>"


def _images(views: list[StepView]) -> str:
    images: dict[str, str] = {}
    for view in views:
        image = (view.record.image if view.record else None) or {}
        if image.get("reference"):
            images[str(image["reference"])] = str(image.get("sha256") or "")
    if not images:
        return ""
    rows = "".join(f"<tr><td>{_e(ref)}</td><td><code>{_e(digest)}</code></td></tr>"
                   for ref, digest in sorted(images.items()))  # fmt: skip
    return f'<h2>Images</h2><table id="images"><tr><th>image</th><th>sha256</th></tr>{rows}</table>'


def _duration(view: StepView) -> str:
    if view.started is None or view.ended is None:
        return ""
    seconds = int(view.ended - view.started)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _when(seconds: Optional[float]) -> str:
    if seconds is None or seconds != seconds:
        return ""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
