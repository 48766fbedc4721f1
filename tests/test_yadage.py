"""yadage 0.21.2 (PyPI) runs workflows on this package, unchanged, via yadage-run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).parent / "workflows"
YADAGE_RUN = Path(sys.executable).parent / "yadage-run"


def yadage_run(
    tmp_path: Path, workflow: str, backend: str, *args: str
) -> subprocess.CompletedProcess:
    assert YADAGE_RUN.exists(), "yadage is not installed in the test environment"
    return subprocess.run(
        [str(YADAGE_RUN), "-t", str(WORKFLOWS), "work", workflow, "-b", backend, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_yadage_uses_this_packtivity() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import packtivity, yadage; print(packtivity.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(Path(__file__).parents[1] / "packtivity") in out


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_map_reduce(tmp_path: Path, backend: str) -> None:
    r = yadage_run(tmp_path, "mapreduce.yml", backend, "-p", "items=[1, 2, 3, 4]")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text().strip() == "30"
    assert sorted(p.name for p in (tmp_path / "work").glob("map_*")) == [
        "map_0",
        "map_1",
        "map_2",
        "map_3",
    ]
    assert "workflow completed successfully" in r.stderr


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_nested_sub_workflow(tmp_path: Path, backend: str) -> None:
    r = yadage_run(tmp_path, "nested.yml", backend, "-p", "items=[1, 2, 3]")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "inner" / "reduce" / "total.txt").read_text().strip() == "14"
    assert (tmp_path / "work" / "final" / "final.txt").read_text().strip() == "14"


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_glob_over_init_directory_feeds_scatter(tmp_path: Path, backend: str) -> None:
    init = tmp_path / "init"
    init.mkdir()
    for name, lines in {"one.txt": 2, "two.txt": 3, "three.txt": 1, "skip.dat": 50}.items():
        (init / name).write_text("x\n" * lines)
    r = yadage_run(
        tmp_path, "globscatter.yml", backend, "-d", f"initdir={init}", "-p", 'inputs="*.txt"'
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "work").glob("count_*")) == [
        "count_0",
        "count_1",
        "count_2",
    ]
    assert (tmp_path / "work" / "total" / "total.txt").read_text().strip() == "6"


def test_failing_step_fails_the_workflow(tmp_path: Path) -> None:
    # '2 +' is a shell arithmetic syntax error in the square step ('notanumber' would be an
    # unset shell variable: 0, a success)
    r = yadage_run(tmp_path, "mapreduce.yml", "foregroundasync", "-p", "items=[1, '2 +']")
    assert r.returncode != 0
    assert not (tmp_path / "work" / "reduce" / "total.txt").exists()


@pytest.mark.parametrize("backend", ["multiproc:2", "foregroundasync"])
def test_map_reduce_in_containers(apptainer, tmp_path: Path, monkeypatch, backend: str) -> None:
    """Workflow steps name Docker Hub images; the site image map points them at the test
    images, and yadage runs them under Apptainer through this package."""
    image_map = tmp_path / "images.yml"
    image_map.write_text(
        f"busybox:1.36: {apptainer.image('busybox')}\n"
        f"python:3.11-slim: {apptainer.image('python')}\n"
    )
    monkeypatch.setenv("PACKTIVITY_APPTAINER_IMAGE_MAP", str(image_map))
    r = yadage_run(tmp_path, "containers.yml", backend, "-p", "items=[1, 2, 3]")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text() == "14\n"
    record = (tmp_path / "work" / "map_0" / "_packtivity").glob("*.run.json")
    assert '"runtime": "apptainer"' in next(record).read_text()


def test_dry_run_of_a_workflow_whose_host_step_feeds_a_publisher(
    tmp_path: Path, monkeypatch
) -> None:
    """PACKTIVITY_DRYRUN runs host steps, as the original did, so that a later step can be
    given what a fromyaml-pub read from their output; container steps only print their command
    line (before: the host step was skipped too and the workflow failed reading config.yml)."""
    monkeypatch.setenv("PACKTIVITY_DRYRUN", "1")
    (tmp_path / "busybox.sif").write_text("a dry run runs no container: any file will do\n")
    (tmp_path / "images.yml").write_text(f"busybox:1.36: {tmp_path / 'busybox.sif'}\n")
    monkeypatch.setenv("PACKTIVITY_APPTAINER_IMAGE_MAP", str(tmp_path / "images.yml"))
    r = yadage_run(tmp_path, "dryrun.yml", "foregroundasync", "-p", "events=3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "configure" / "config.yml").read_text() == "nevents: 3\n"
    assert "dry run: would run: cd " in r.stderr and "seq 3 >" in r.stderr
    assert not (tmp_path / "work" / "generate" / "events.txt").exists()
