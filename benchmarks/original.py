"""The original packtivity 0.17.1 from PyPI, in a virtual environment of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VERSION = "0.17.1"
VENV = Path(__file__).resolve().parent.parent / ".bench" / f"packtivity-{VERSION}"


def original_bin(command: str) -> Path:
    """The original's console script ``command``; the venv is made on first use."""
    script = VENV / "bin" / command
    if not script.exists():
        print(f"installing packtivity=={VERSION} into {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
             f"packtivity=={VERSION}"],
            check=True,
        )  # fmt: skip
    return script
