"""The :class:`Host` interface: run a command, read and write files, on one machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol


@dataclass(frozen=True)
class CommandResult:
    """How a command ended.  ``output`` is its whole stdout for :meth:`Host.run`, the last lines
    of stdout and stderr together for :meth:`Host.run_streamed`; ``errors`` is stderr for
    :meth:`Host.run` (empty for streamed runs, whose stderr is in ``output``)."""

    returncode: int
    output: str
    errors: str = ""


class Host(Protocol):
    """A machine that runs commands and holds files (paths are that machine's paths).

    Contracts: no method raises for a command that fails (see ``returncode``); a command that
    cannot be started at all raises ``OSError``; a host that cannot be reached (or whose
    connection was lost) raises :class:`~packtivity.hosts.HostUnreachable`, which callers that
    wait treat as "ask again later".  Writes are atomic: a reader sees the old file
    or the new one, never a part.
    """

    #: how messages name this machine ("this machine", "user@cluster")
    name: str

    def run(
        self,
        argv: list[str],
        *,
        stdin_text: Optional[str] = None,
        environment: Optional[dict[str, str]] = None,
    ) -> CommandResult:
        """Run ``argv`` to completion, capturing stdout and stderr; ``environment`` is added
        to the command's environment there."""
        ...

    def run_streamed(
        self, argv: list[str], *, stdin_text: Optional[str] = None, logfile: Optional[str] = None
    ) -> CommandResult:
        """Run ``argv`` to completion with its output on this process's terminal and appended
        to ``logfile`` (a path on this host); the result keeps the last lines."""
        ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def existing(self, paths: list[str]) -> set[str]:
        """Those of ``paths`` that exist: one check for all (over SSH, one command)."""
        ...

    def read_text(self, path: str) -> str:
        """The file's text; ``FileNotFoundError`` when it does not exist."""
        ...

    def write_text(self, path: str, text: str) -> None:
        """Create or replace the file atomically (parent directories are created).

        For packtivity's own files (job bodies, scripts, memos): readers see the old or the new
        content, but it is not forced to disk (no fsync; on shared file systems that is a round
        trip per file).  Users' files (results, proxies) are written with ``atomicfile``.
        """
        ...

    def append_text(self, path: str, text: str) -> None:
        """Append to a file (created when missing); for logs, not atomic."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file; a missing file is not an error."""
        ...

    def make_dirs(self, path: str) -> None:
        """Create a directory and its parents; an existing one is not an error."""
        ...

    def glob(self, pattern: str) -> list[str]:
        """Sorted matches of ``pattern`` as ``glob.glob(pattern, recursive=True)`` finds them."""
        ...

    def remove_tree(self, path: str) -> None:
        """Remove a directory and everything below it; a missing one is not an error."""
        ...

    def expanduser(self, path: str) -> str:
        """``~`` and ``~/...`` as the home directory of this host's user."""
        ...

    def realpaths(self, paths: list[str]) -> list[str]:
        """Each path as ``os.path.realpath`` gives it *on this host*: absolute, symbolic links
        resolved, components that do not exist kept as they are.  A relative path is relative to
        this process's directory here, to the login directory over SSH.  Paths of the step's
        host are resolved here and nowhere else (a laptop's symlinks are not the cluster's)."""
        ...

    def getenv(self, name: str) -> Optional[str]:
        """The environment variable ``name`` as commands started on this host see it."""
        ...

    def which(self, program: str) -> Optional[str]:
        """The path of ``program`` on this host's PATH, or None."""
        ...

    def sha256(self, path: str) -> str:
        """The hex SHA-256 of a file's content."""
        ...
