"""The alternatives from PyPI, each in a virtual environment of its own under ``.bench/``.

The original packtivity 0.17.1 (its CLI) and submitit (run by :mod:`benchmarks.submitit_jobs`).
Each environment is made on first use and kept (``.bench/`` is not committed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ORIGINAL = "packtivity==0.17.1"
SUBMITIT = "submitit==1.5.4"
BENCH = Path(__file__).resolve().parent.parent / ".bench"


def venv_bin(requirement: str, command: str) -> Path:
    """``command`` of the environment that has ``requirement`` (``name==version``)."""
    venv = BENCH / requirement.replace("==", "-")
    script = venv / "bin" / command
    if not script.exists():
        print(f"installing {requirement} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
             requirement],
            check=True,
        )  # fmt: skip
    return script


def original_bin(command: str) -> Path:
    """The original packtivity's console script ``command``."""
    return venv_bin(ORIGINAL, command)
