"""Rules of the package's layout that code review alone would not keep.

- Only an adapter knows its scheduler: outside ``batch/slurm.py``, ``pbs.py``, ``local.py`` (and
  the registry ``batch/adapters.py``), no code branches on a scheduler's name or spells one of
  its PSI/J attributes.
- Every registered adapter provides the whole adapter protocol.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from packtivity.batch.adapters import ADAPTERS, SCHEDULERS
from packtivity.batch.scheduler import SchedulerAdapter

PACKAGE = Path(__file__).resolve().parents[1] / "packtivity"
ADAPTER_MODULES = {"slurm.py", "pbs.py", "local.py", "adapters.py"}
#: a comparison with a scheduler's name, or a PSI/J custom attribute of one
SCHEDULER_BRANCH = re.compile(
    r"""(==|!=|\bin\b)\s*\(?\s*["'](slurm|pbs|local)["']|["'](slurm|pbs)\.[a-zA-Z]"""
)


def test_only_an_adapter_names_its_scheduler() -> None:
    offenders = []
    for path in sorted((PACKAGE / "batch").glob("*.py")):
        if path.name in ADAPTER_MODULES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SCHEDULER_BRANCH.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "scheduler decisions outside the adapters:\n" + "\n".join(offenders)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_adapter_has_the_whole_protocol(name: str) -> None:
    adapter = ADAPTERS[name]
    assert adapter.name == name
    members = [m for m in dir(SchedulerAdapter) if not m.startswith("_")]
    members += list(SchedulerAdapter.__annotations__)
    for member in set(members):
        assert hasattr(adapter, member), f"{type(adapter).__name__} has no {member}"
    for method in ("status_command", "parse_status", "accounting_command", "cancel_command",
                   "parse_accounting", "resource_shape"):  # fmt: skip
        assert inspect.ismethod(getattr(adapter, method)), method


def test_backends_declare_the_protocol_and_pools_do_not_import_the_display() -> None:
    """The backend protocol is code (packtivity.protocol); the batch and pool backends report
    a Status through it, and no backend imports the progress display (waiting.py) for it."""
    from packtivity.asyncbackends import ForegroundBackend
    from packtivity.batch.backend import BatchBackend
    from packtivity.pools.celery import CeleryBackend
    from packtivity.pools.ipcluster import IPythonParallelBackend
    from packtivity.protocol import AsyncBackend, Cancels, ReportsStatus

    required = [m for m in dir(AsyncBackend) if not m.startswith("_")]
    for backend_class in (ForegroundBackend, BatchBackend, CeleryBackend, IPythonParallelBackend):
        for method in required:
            assert callable(getattr(backend_class, method, None)), (backend_class, method)
    for reporting in (BatchBackend, CeleryBackend, IPythonParallelBackend):
        assert issubclass(reporting, ReportsStatus) and issubclass(reporting, Cancels)
    for path in [*(PACKAGE / "pools").glob("*.py"), *(PACKAGE / "batch").glob("*.py")]:
        assert "waiting import" not in path.read_text(), path.name
