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
    for method in ("status_command", "parse_status", "accounting_commands", "cancel_command",
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


def test_the_run_record_has_one_definition() -> None:
    """The record's fields: the header the job body writes first (runrecord.record_header),
    the fields its printf writes after the command (runrecord.RUN_FIELDS, in the template), and
    RunRecord's fields are the same set, so the three cannot drift apart."""
    import dataclasses

    from packtivity.runrecord import RUN_FIELDS, RunRecord, record_header
    from packtivity.templating import TEMPLATES

    header = record_header(step="", cwd="", command_line="", stdin=False, runtime=None, image=None)
    template = (TEMPLATES / "job.sh.mustache").read_text()
    printf = re.search(r"printf '%s, (.*?)\}\\n'", template)
    assert printf, "the job body's record printf was not found"
    written = re.findall(r'"(\w+)": ', printf.group(1))
    assert tuple(written) == RUN_FIELDS
    record_fields = {f.name for f in dataclasses.fields(RunRecord)}
    assert set(header) - {"format"} | set(RUN_FIELDS) == record_fields


# ---- the import graph --------------------------------------------------------------------

#: modules that plan a step: spec + parameters + state -> job body (no batch, no pools)
PLANNING = ("plan", "jobscript", "runrecord", "outcome", "inputs", "spec", "syncbackends",
            "handlers.", "apptainer.", "statecontexts.")  # fmt: skip
#: what the CLI may import: parsing its inputs, the policies (runner, reports, plan), the
#: progress display, and the pieces it prints or writes
CLI_ALLOWED = {"errors", "inputs", "utils", "runner", "reports", "runs", "report", "waiting",
               "plan", "hosts",
               "syncbackends", "spec", "jobscript", "atomicfile", "protocol", "signals",
               ""}  # fmt: skip


def _imports(path: Path) -> set[str]:
    """The packtivity modules ``path`` imports (at the top or inside functions), as names
    relative to the package (``batch.backend``; ``""`` for the package itself)."""
    import ast

    module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if "." in module else ""
    if path.name == "__init__.py":
        package = module.rsplit(".", 1)[0] if module != "__init__" else ""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "packtivity" or alias.name.startswith("packtivity."):
                    found.add(alias.name.removeprefix("packtivity").lstrip("."))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.split(".")[0] == "packtivity":
                    base = node.module.removeprefix("packtivity").lstrip(".")
                else:
                    continue
            else:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:  # from a import b: b is a module, or a name in module a
                submodule = f"{base}.{alias.name}".lstrip(".")
                found.add(submodule if submodule in MODULES else base)
    return found


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if "__pycache__" in parts or "templates" in parts:
            continue
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        modules[".".join(parts)] = path
    return modules


MODULES = set(_modules())


def _is(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p.rstrip(".") or (p.endswith(".") and name.startswith(p)) for p in prefixes)


def test_import_rules() -> None:
    """The map of docs/architecture.md, kept: the CLI has no policy of its own; planning never
    imports batch or pools; batch never imports the local executors; only hosts/ starts
    processes."""
    broken = []
    for name, path in _modules().items():
        imported = _imports(path)
        if name == "cli":
            extra = {i for i in imported if i.split(".")[0] not in CLI_ALLOWED}
            broken += [f"cli imports {i} (a policy: call runner/reports/plan)" for i in extra]
            probes = [p for p in ("getattr(", "hasattr(") if p in path.read_text()]
            broken += [f"cli probes a backend with {p}: declare it in protocol.py" for p in probes]
        if _is(name, PLANNING):
            broken += [f"{name} (planning) imports {i}" for i in imported
                       if i.startswith(("batch", "pools"))]  # fmt: skip
        if name.startswith("batch"):
            broken += [f"{name} imports the local executors" for i in imported
                       if i == "handlers.execution_handlers"]  # fmt: skip
        if not name.startswith("hosts") and name != "teeprocess":
            text = path.read_text()
            for call in ("subprocess.run(", "subprocess.Popen(", "subprocess.call(",
                         "subprocess.check_", "os.system(", "os.kill(", "os.killpg("):  # fmt: skip
                if call in text:
                    broken.append(f"{name} starts or signals processes ({call}): use a Host")
    assert not broken, "\n".join(broken)


def test_the_import_rules_see_imports() -> None:
    """The checker itself: it finds top-level, relative and function-level imports."""
    found = _imports(PACKAGE / "batch" / "backend.py")
    assert {"outcome", "plan", "batch.adapters", "batch.poller", "statecontexts"} <= found
    assert "batch" in _imports(PACKAGE / "runner.py")


def test_step_host_paths_are_not_resolved_here() -> None:
    """Paths of the step's host are resolved on that host (Host.realpaths), never with this
    machine's os.path: not in the state, the binds, planning or batch."""
    modules = [*(PACKAGE / "batch").glob("*.py"), *(PACKAGE / "apptainer").glob("*.py"),
               *(PACKAGE / "statecontexts").glob("*.py"),
               *(PACKAGE / n for n in ("plan.py", "jobscript.py", "logutils.py"))]  # fmt: skip
    offenders = []
    for path in modules:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for call in ("os.path.realpath(", "os.path.abspath(", "shutil.rmtree(", "os.makedirs("):
                if call in line:
                    offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_resource_has_its_flag_and_option() -> None:
    """A resource is a field of Resources: packtivity-run has its flag, BatchBackend takes it
    as an option, and config files and specs may name it."""
    from packtivity.batch.backend import RESOURCE_OPTIONS
    from packtivity.batch.resources import NAMES, RESOURCE_FLAGS
    from packtivity.cli import runcli
    from packtivity.runner import BATCH_FLAGS

    flags = {parameter.name for parameter in runcli.params}
    assert set(BATCH_FLAGS) <= flags, set(BATCH_FLAGS) - flags
    assert set(RESOURCE_FLAGS) == set(RESOURCE_OPTIONS) <= set(NAMES)
    assert {"cpus", "memory", "walltime", "gpus", "queue", "account", "reservation"} <= set(
        RESOURCE_FLAGS
    )
