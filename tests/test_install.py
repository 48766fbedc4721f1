"""Installation as users do it: Python 3.9 (the system Python of EL9 login nodes) with the pip
its ``venv`` ships (23.0.1), ``pip install`` of this checkout, then the README's example.

Before the Python-3.9 bounds in pyproject.toml, that pip backtracked for over 40 minutes on an
index that does not state Requires-Python (this machine's mirror is one).  The time is printed,
not asserted (benchmarks measure; tests check).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration  # installs from the package index


def find_python39() -> str:
    """A working Python 3.9: on the PATH, or one that pyenv installed (its shim on the PATH runs
    only where 3.9 is pyenv's chosen version)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [shutil.which("python3.9"), "/usr/bin/python3.9"]
    candidates += sorted(str(p) for p in pyenv_root.glob("versions/3.9*/bin/python3.9"))
    for candidate in filter(None, candidates):
        try:
            answer = subprocess.run([candidate, "--version"], capture_output=True, text=True,
                                    timeout=30)  # fmt: skip
        except OSError:
            continue
        if answer.returncode == 0 and answer.stdout.startswith("Python 3.9"):
            return candidate
    pytest.fail("no working Python 3.9 (PATH, /usr/bin, pyenv): this check needs one")


def test_installs_and_runs_the_example_on_python39_with_its_stock_pip(tmp_path: Path) -> None:
    python39 = find_python39()
    venv = tmp_path / "venv"
    subprocess.run([python39, "-m", "venv", str(venv)], check=True, timeout=120)
    pip_version = subprocess.run(
        [str(venv / "bin" / "pip"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert pip_version.startswith("pip 23.0.1 "), pip_version  # the stock one, not upgraded
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".upstream", ".bench",
                                                                ".git", "__pycache__"))  # fmt: skip
    start = time.monotonic()
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.monotonic() - start
    print(f"pip 23.0.1 on Python 3.9: installed in {seconds:.1f} s")
    assert installed.returncode == 0, installed.stderr[-3000:]
    work = tmp_path / "work"
    example = subprocess.run(
        [str(venv / "bin" / "packtivity-run"), "-t", str(ROOT / "examples"), "hello.yml",
         "-p", "name=World", "-p", "outputfile={workdir}/hello.txt", "-w", str(work)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert example.returncode == 0, example.stderr
    assert (work / "hello.txt").read_text() == "Hello, World!\n"
