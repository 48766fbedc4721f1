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
    cannot be started at all raises ``OSError``.  Writes are atomic: a reader sees the old file
    or the new one, never a part.
    """

    #: how messages name this machine ("this machine", "user@cluster")
    name: str

    def run(self, argv: list[str], *, stdin_text: Optional[str] = None) -> CommandResult:
        """Run ``argv`` to completion, capturing stdout and stderr."""
        ...

    def run_streamed(
        self, argv: list[str], *, stdin_text: Optional[str] = None, logfile: Optional[str] = None
    ) -> CommandResult:
        """Run ``argv`` to completion with its output on this process's terminal and appended
        to ``logfile`` (a path on this host); the result keeps the last lines."""
        ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def read_text(self, path: str) -> str:
        """The file's text; ``FileNotFoundError`` when it does not exist."""
        ...

    def write_text(self, path: str, text: str) -> None:
        """Create or replace the file atomically (parent directories are created)."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file; a missing file is not an error."""
        ...

    def which(self, program: str) -> Optional[str]:
        """The path of ``program`` on this host's PATH, or None."""
        ...

    def sha256(self, path: str) -> str:
        """The hex SHA-256 of a file's content."""
        ...
