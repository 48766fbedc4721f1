"""Shared fixtures: the spec directory, per-test work directories, and a CLI runner that runs
the installed console scripts as real processes (so exit codes and stderr are the real ones)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SPECS = Path(__file__).parent / "specs"
BIN = Path(sys.executable).parent


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def specs() -> Path:
    return SPECS


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def cli(tmp_path: Path):
    """``cli("packtivity-run", *args, cwd=..., env=...)`` -> CliResult."""

    def run(
        command: str,
        *args: str,
        cwd: Path | None = None,
        env: dict | None = None,
        timeout: float = 120,
    ) -> CliResult:
        executable = BIN / command
        assert executable.exists(), f"{command} is not installed next to {sys.executable}"
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run(
            [str(executable), *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Bad input: exit 2, exactly one line on stderr starting 'Error:', no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def copy_specs(tmp_path: Path) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(SPECS, target)
    return target
