"""A :class:`~packtivity.hosts.Host` held in memory, for unit tests of code that talks to hosts.

This is a stand-in, used where the point is the caller's logic (the poller's back-off, the
state's path resolution, PSI/J's routed calls), not a machine: commands are answered by a
function the test gives, files live in a dict, symbolic links in another.  Everything
that runs real commands on real machines is tested against the test cluster instead.
"""

from __future__ import annotations

import fnmatch
import posixpath
from typing import Callable, Optional

from packtivity.errors import HostUnreachable
from packtivity.hosts.base import CommandResult

Answer = Callable[[list[str]], CommandResult]


class FakeHost:
    """Files in ``files``; ``links`` maps a path to its symlink target; ``answer(argv)`` runs
    commands (default: exit 127, "not found"); ``commands`` records every argv run; while
    ``reachable`` is False every call raises :class:`HostUnreachable`."""

    def __init__(self, name: str = "fake", answer: Optional[Answer] = None) -> None:
        self.name = name
        self.answer = answer or (lambda argv: CommandResult(127, "", f"{argv[0]}: not found"))
        self.files: dict[str, str] = {}
        self.dirs: set[str] = {"/"}
        self.links: dict[str, str] = {}
        self.environment: dict[str, str] = {}
        self.commands: list[list[str]] = []
        self.reachable = True
        self.home = "/home/fake"
        self.cwd = self.home

    def _check(self) -> None:
        if not self.reachable:
            raise HostUnreachable(f"{self.name} cannot be reached")

    def run(
        self,
        argv: list[str],
        *,
        stdin_text: Optional[str] = None,
        environment: Optional[dict[str, str]] = None,
    ) -> CommandResult:
        self._check()
        self.commands.append(list(argv))
        return self.answer(list(argv))

    def run_streamed(
        self, argv: list[str], *, stdin_text: Optional[str] = None, logfile: Optional[str] = None
    ) -> CommandResult:
        return self.run(argv, stdin_text=stdin_text)

    def exists(self, path: str) -> bool:
        self._check()
        return path in self.files or path in self.dirs

    def existing(self, paths: list[str]) -> set[str]:
        self._check()
        self.commands.append(["existing", *paths])  # one round trip, as SshHost's command
        return {path for path in paths if path in self.files or path in self.dirs}

    def is_dir(self, path: str) -> bool:
        self._check()
        return path in self.dirs

    def read_text(self, path: str) -> str:
        self._check()
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    def write_text(self, path: str, text: str) -> None:
        self._check()
        self.make_dirs(posixpath.dirname(path))
        self.files[path] = text

    def append_text(self, path: str, text: str) -> None:
        self._check()
        self.files[path] = self.files.get(path, "") + text

    def remove(self, path: str) -> None:
        self._check()
        self.files.pop(path, None)

    def remove_tree(self, path: str) -> None:
        self._check()
        for name in [f for f in self.files if f == path or f.startswith(path + "/")]:
            del self.files[name]
        self.dirs = {d for d in self.dirs if not (d == path or d.startswith(path + "/"))}

    def make_dirs(self, path: str) -> None:
        self._check()
        while path and path not in self.dirs:
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def glob(self, pattern: str) -> list[str]:
        self._check()
        return sorted(p for p in [*self.files, *self.dirs] if fnmatch.fnmatch(p, pattern))

    def expanduser(self, path: str) -> str:
        return self.home + path[1:] if path == "~" or path.startswith("~/") else path

    def realpaths(self, paths: list[str]) -> list[str]:
        self._check()
        return [self._resolve(posixpath.join(self.cwd, p)) for p in paths]

    def _resolve(self, path: str) -> str:
        resolved = "/"
        for part in posixpath.normpath(path).split("/")[1:]:
            resolved = posixpath.join(resolved, part)
            for _ in range(40):  # as the kernel, give up on loops
                if resolved not in self.links:
                    break
                target = self.links[resolved]
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(resolved), target))
        return resolved

    def getenv(self, name: str) -> Optional[str]:
        self._check()
        return self.environment.get(name)

    def which(self, program: str) -> Optional[str]:
        return None

    def sha256(self, path: str) -> str:
        import hashlib

        return hashlib.sha256(self.read_text(path).encode()).hexdigest()
