"""What this package replaces, from PyPI: the original packtivity 0.17.1 and yadage 0.21.2.

- :func:`sdist` is a release's source distribution (its test suite and test specs), fetched
  once with ``pip download`` and kept unpacked under ``.upstream/`` (not committed;
  ``PACKTIVITY_UPSTREAM_CACHE`` moves it).
- :func:`original_python` is the Python of a virtual environment with the original packtivity
  and yadage, made once under the same directory, to run a workflow or a step with the original
  and compare its results with this package's.

Both take a lock, so concurrent test sessions fetch and install once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_PACKTIVITY = ("packtivity", "0.17.1")
YADAGE = ("yadage", "0.21.2")
#: what runs the original, for comparisons
ORIGINAL_REQUIREMENTS = ["packtivity==0.17.1", "yadage==0.21.2"]


def cache_dir() -> Path:
    path = Path(os.environ.get("PACKTIVITY_UPSTREAM_CACHE") or ROOT / ".upstream")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    with open(cache_dir() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr[-2000:]}")


def sdist(name: str, version: str) -> Path:
    """The unpacked source distribution ``name-version`` from PyPI (fetched once)."""
    target = cache_dir() / f"{name}-{version}"
    with _locked(f"{name}-{version}"):
        if not (target / "PKG-INFO").exists():
            downloads = cache_dir() / "downloads"
            _run(
                [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                 "--no-deps", "--no-binary", ":all:", "-d", str(downloads),
                 f"{name}=={version}"],
                f"pip download {name}=={version}",
            )  # fmt: skip
            archive = downloads / f"{name}-{version}.tar.gz"
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.12, and 3.9.17+ backports
                    tar.extractall(cache_dir(), filter="data")
                else:
                    tar.extractall(cache_dir())  # noqa: S202 - a PyPI sdist we asked for
    return target


def original_python() -> Path:
    """A Python with the original packtivity 0.17.1 and yadage 0.21.2 (made once)."""
    venv = cache_dir() / "original-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    with _locked("original-venv"):
        if not stamp.exists():
            _run([sys.executable, "-m", "venv", "--clear", str(venv)], "python -m venv")
            _run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 *ORIGINAL_REQUIREMENTS],
                "installing the original packtivity",
            )  # fmt: skip
            stamp.write_text(" ".join(ORIGINAL_REQUIREMENTS) + "\n")
    return python
