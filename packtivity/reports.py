"""What ``packtivity-checkproxy`` reports about saved proxies: load them, cancel their jobs, and
say where each step stands, with its published result once it succeeded.

Functions here return data; the CLI prints it (as text, or as the JSON of :func:`json_report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .errors import BadInput, ProxyError
from .protocol import AsyncBackend, Cancels, Proxy, Status

#: the version of ``packtivity-checkproxy --json``'s output
CHECKPROXY_FORMAT = "packtivity-checkproxy/1"


@dataclass(frozen=True)
class SavedProxy:
    """A proxy read from its file, with the backend that answers for it."""

    path: str
    backend: AsyncBackend
    proxy: Proxy


@dataclass(frozen=True)
class StepReport:
    """Where one saved step stands; ``result`` is its published JSON once it succeeded."""

    path: str
    status: Status
    result: Any = None


def read_proxy_file(path: str) -> Any:
    """The JSON of a proxy file; :class:`ProxyError` naming the file otherwise."""
    from .userfiles import read_json

    return read_json(path, "proxy file", ProxyError)


def load_saved(paths: tuple[str, ...] | list[str]) -> list[SavedProxy]:
    """The proxies of ``paths``, each with its backend; every job is watched, so that the
    first status command asks about all of them at once."""
    from . import waiting
    from .backendutils import load_proxy

    saved = []
    for path in paths:
        try:
            proxy, backend = load_proxy(read_proxy_file(path), best_effort_backend=True)
        except ProxyError as error:
            raise ProxyError(f"{path}: {error}") from None
        saved.append(SavedProxy(path, backend, proxy))
        waiting.watch_all(backend, proxy)
    return saved


def cancel(saved: list[SavedProxy]) -> None:
    """Ask each step's backend to cancel its job; :class:`BadInput` for a backend that cannot
    (before any is cancelled)."""
    cancellers: list[tuple[Cancels, Proxy]] = []
    for item in saved:
        if not isinstance(item.backend, Cancels):
            raise BadInput(f"{item.path}: this backend's steps cannot be cancelled")
        cancellers.append((item.backend, item.proxy))
    for backend, proxy in cancellers:
        backend.cancel(proxy)


def report(
    saved: list[SavedProxy], statuses: Optional[dict[str, Status]] = None
) -> list[StepReport]:
    """Each step's status (``statuses`` when the caller has them already, from waiting) and,
    for a step that succeeded, its result: the publisher runs on the shared storage."""
    from .protocol import status_of

    reports = []
    for item in saved:
        status = statuses[item.path] if statuses else status_of(item.backend, item.proxy)
        result = item.backend.result(item.proxy).json() if status.succeeded else None
        reports.append(StepReport(item.path, status, result))
    return reports


def any_failed(reports: list[StepReport]) -> bool:
    """Whether a step has ended without succeeding (failed, cancelled, unknown, ...)."""
    return any(r.status.finished and not r.status.succeeded for r in reports)


def json_report(reports: list[StepReport]) -> dict[str, Any]:
    """``packtivity-checkproxy --json``: one shape for any number of proxies::

        {"format": "packtivity-checkproxy/1",
         "steps": [{"proxy": PATH, "status": STATE, "finished": BOOL, "succeeded": BOOL,
                    "exit_code": INT|null, "message": STR|null, "result": JSON|null}, ...]}

    in the order the proxies were given.  New keys may be added within a format version; a
    change to these is a new version.
    """
    steps = [
        {
            "proxy": r.path,
            "status": r.status.state,
            "finished": bool(r.status.finished),
            "succeeded": bool(r.status.succeeded),
            "exit_code": r.status.exit_code,
            "message": r.status.message or None,
            "result": r.result,
        }
        for r in reports
    ]
    return {"format": CHECKPROXY_FORMAT, "steps": steps}
