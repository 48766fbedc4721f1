"""The machine this process runs on."""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import os
import shutil
import subprocess
from typing import Optional

from ..atomicfile import write_text_atomic
from ..teeprocess import run_teed
from .base import CommandResult


class LocalHost:
    """:class:`~packtivity.hosts.Host` for this machine: subprocesses and the local file system."""

    name = "this machine"

    def run(
        self,
        argv: list[str],
        *,
        stdin_text: Optional[str] = None,
        environment: Optional[dict[str, str]] = None,
    ) -> CommandResult:
        done = subprocess.run(
            argv,
            env={**os.environ, **environment} if environment else None,
            input=stdin_text if stdin_text is not None else "",
            capture_output=True,
            text=True,
            errors="replace",
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def run_streamed(
        self, argv: list[str], *, stdin_text: Optional[str] = None, logfile: Optional[str] = None
    ) -> CommandResult:
        teed = run_teed(argv, stdin_text=stdin_text, logfile=logfile)
        return CommandResult(teed.returncode, teed.tail)

    def run_interactive(self, argv: list[str], *, cwd: str) -> int:
        """Run ``argv`` in ``cwd`` on this process's terminal (``packtivity-util shell``); its
        exit code.  Only here: an interactive command over SSH would need a terminal there."""
        return subprocess.call(argv, cwd=cwd)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def existing(self, paths: list[str]) -> set[str]:
        return {path for path in paths if os.path.exists(path)}

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def read_text(self, path: str) -> str:
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    def write_text(self, path: str, text: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_text_atomic(path, text, durable=False)

    def append_text(self, path: str, text: str) -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)

    def make_dirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern, recursive=True))

    def expanduser(self, path: str) -> str:
        return os.path.expanduser(path)

    def remove_tree(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)

    def realpaths(self, paths: list[str]) -> list[str]:
        return [os.path.realpath(path) for path in paths]

    def getenv(self, name: str) -> Optional[str]:
        return os.environ.get(name)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def which(self, program: str) -> Optional[str]:
        return shutil.which(program)

    def sha256(self, path: str) -> str:
        stat = os.stat(path)
        return _sha256(os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hash a file once per content version (size and mtime are part of the cache key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_LOCAL = LocalHost()


def local_host() -> LocalHost:
    """This machine (one shared instance; it holds no state of its own)."""
    return _LOCAL
