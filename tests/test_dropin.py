"""Drop-in means the original's results: the same yadage workflows run with this package and
with the original packtivity 0.17.1 (yadage 0.21.2 in a virtual environment of its own, from
PyPI), and every step's parameters and published result are compared, not only exit codes.

The workflows are yadage's own test specs (from its PyPI sdist) and this project's, with the
kinds of input public yadage and REANA workflows pass: plain strings, https:// and root:// URLs,
a file of the init directory by its relative name, numbers.  The original runs them with
``foregroundasync``; this package with ``multiproc:2``, ``foregroundasync`` and ``-b slurm``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from upstream import YADAGE, original_python, sdist

pytestmark = pytest.mark.integration  # the original's environment is installed from PyPI

WORKFLOWS = Path(__file__).parent / "workflows"
THIS_PYTHON = Path(sys.executable)

INPUTS = [
    "par=value",
    "url=https://recastwww.example.org/data/mc15_13TeV.123456.signal.root",
    "xrootd=root://eospublic.cern.ch//eos/opendata/cms/Run2012B/DoubleMuParked/AOD/x.root",
    "local=data.txt",
    "did=404958",
]


def yadage_run(
    python: Path, cwd: Path, toplevel: Path, workflow: str, backend: str, *args: str
) -> subprocess.CompletedProcess:
    """``yadage-run`` of the environment of ``python``, writing ``cwd/work``.  Another
    environment than this one runs without ``PYTHONPATH``, which could put this package into
    it."""
    environment = dict(os.environ)
    if Path(python) != Path(sys.executable):
        environment.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(python.parent / "yadage-run"), "-t", str(toplevel), "work", workflow,
         "-b", backend, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip


def step_results(workdir: Path) -> dict[str, Any]:
    """Every step's parameters and result from yadage's snapshot, the work directory's path
    replaced by ``WORK`` so that two runs can be compared."""
    snapshot = (workdir / "_yadage" / "yadage_snapshot_workflow.json").read_text()
    nodes = json.loads(snapshot.replace(str(workdir), "WORK"))["dag"]["nodes"]
    steps = {}
    for node in nodes:
        meta = node["task"]["metadata"]
        key = f"{meta.get('wflow_offset', '')}/{node['name']}/{meta.get('wflow_stage_node_idx')}"
        steps[key] = {"parameters": node["task"]["parameters"], "result": node["result"]}
    return steps


def run_both(
    tmp_path: Path, toplevel: Path, workflow: str, backend: str, *args: str, initdir: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the workflow with the original (foregroundasync) and with this package (``backend``),
    each in a directory of its own; return both runs' step results."""
    runs = {}
    for label, python, used_backend in (
        ("original", original_python(), "foregroundasync"),
        ("this", THIS_PYTHON, backend),
    ):
        cwd = tmp_path / label
        cwd.mkdir()
        extra = list(args)
        if initdir:
            (cwd / "inputs").mkdir()
            (cwd / "inputs" / "data.txt").write_text("events\n")
            extra += ["-d", f"initdir={cwd / 'inputs'}"]
        result = yadage_run(python, cwd, toplevel, workflow, used_backend, *extra)
        assert result.returncode == 0, (label, result.stderr[-4000:])
        runs[label] = step_results(cwd / "work")
    return runs["original"], runs["this"]


def _same_apart_from_the_directory(original: Any, this: Any, tmp_path: Path) -> None:
    text = json.dumps(this).replace(str(tmp_path / "this"), "RUN")
    assert json.loads(text) == json.loads(
        json.dumps(original).replace(str(tmp_path / "original"), "RUN")
    )


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_string_url_and_path_inputs_publish_as_the_original(tmp_path: Path, backend: str) -> None:
    """Strings and URLs reach the step as given; a relative name of a file in the init directory
    becomes its path (before the fix: '/.../init/value', '/.../init/https://...')."""
    original, this = run_both(
        tmp_path, WORKFLOWS, "inputs.yml", backend, *sum((["-p", i] for i in INPUTS), []),
        initdir=True,
    )  # fmt: skip
    _same_apart_from_the_directory(original, this, tmp_path)
    echoed = (tmp_path / "this" / "work" / "echo" / "inputs.txt").read_text().splitlines()
    assert echoed == [
        "value",
        INPUTS[1].split("=", 1)[1],
        INPUTS[2].split("=", 1)[1],
        f"{tmp_path / 'this' / 'inputs' / 'data.txt'}",
        "404958",
    ]


def test_string_url_and_path_inputs_publish_as_the_original_on_slurm(slurm, tmp_path: Path) -> None:
    """The same workflow with every step a Slurm job gives the original's results."""
    original, this = run_both(
        tmp_path, WORKFLOWS, "inputs.yml", "slurm", *sum((["-p", i] for i in INPUTS), []),
        initdir=True,
    )  # fmt: skip
    _same_apart_from_the_directory(original, this, tmp_path)
    records = list((tmp_path / "this" / "work" / "echo" / "_packtivity").glob("*.run.json"))
    assert records and json.loads(records[0].read_text())["batch_job_id"]


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_yadage_local_helloworld_says_hello_value(tmp_path: Path, backend: str) -> None:
    """yadage's own local-helloworld with ``-p par=value`` writes 'Hello value' (before the fix:
    'Hello /.../init/value')."""
    toplevel = sdist(*YADAGE) / "tests" / "testspecs" / "local-helloworld"
    original, this = run_both(tmp_path, toplevel, "workflow.yml", backend, "-p", "par=value")
    _same_apart_from_the_directory(original, this, tmp_path)
    hello = tmp_path / "this" / "work" / "hello_world" / "hello_world.txt"
    assert hello.read_text() == "Hello value\n"


def test_yadage_dynamic_glob_fetches_its_url(tmp_path: Path) -> None:
    """yadage's own dynamic_glob workflow downloads ``sourcefile`` with curl, here a file://
    URL of its own test zip (before the fix curl got '/.../init/file:///...' and failed)."""
    testspecs = sdist(*YADAGE) / "tests" / "testspecs" / "dynamic_glob"
    zipfile = testspecs / "inputs" / "three_files.zip"
    assert zipfile.exists()
    original, this = run_both(
        tmp_path, testspecs, "workflow.yml", "multiproc:2", "-p", f"sourcefile=file://{zipfile}"
    )
    _same_apart_from_the_directory(original, this, tmp_path)
    combined = (tmp_path / "this" / "work" / "reduce" / "out.txt").read_text()
    assert combined.count("\n") >= 6  # a date line and the upper-cased content of each file


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_a_step_that_creates_the_file_it_publishes(tmp_path: Path, backend: str) -> None:
    """The case prepublishing got wrong in the original: the step publishes 'made.txt' by its
    relative name, which becomes a path only once the step has made it.  The original handed
    the next step the prepublished 'made.txt' and the workflow failed; here the next step gets
    the path and reads the file."""
    args = ["-p", "name=made.txt", "-p", "text=hello"]
    cwd = tmp_path / "this"
    cwd.mkdir()
    result = yadage_run(THIS_PYTHON, cwd, WORKFLOWS, "makes_and_publishes.yml", backend, *args)
    assert result.returncode == 0, result.stderr[-4000:]
    steps = step_results(cwd / "work")
    assert steps["/make/0"]["result"] == {"made": "WORK/make/made.txt"}
    assert (cwd / "work" / "use" / "copy.txt").read_text() == "hello\n"

    original = tmp_path / "original"
    original.mkdir()
    failed = yadage_run(
        original_python(), original, WORKFLOWS, "makes_and_publishes.yml", "foregroundasync",
        *args,
    )  # fmt: skip
    assert failed.returncode != 0 and "cp made.txt" in failed.stderr
