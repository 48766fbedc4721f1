"""File operations of a remote :class:`~packtivity.hosts.Host` as POSIX shell commands.

A host that can only run commands (the OpenSSH transport) gets every file operation from here;
the paramiko transport uses SFTP for single files and takes the rest (one command for many
paths, hashing, resolving) from here too.  Every command is a fixed script with the paths as
its arguments (``sh -c SCRIPT sh PATH...``): a path is never parsed by a shell.
"""

from __future__ import annotations

import uuid
from typing import Optional

from .base import CommandResult
from .globbing import host_glob

_MISSING = 44  #: exit status of the scripts below for "no such file"
_READ = f'[ -e "$1" ] || exit {_MISSING}; exec cat -- "$1"'
#: stdin to a temporary file beside the target, the target's mode kept, then one rename
_WRITE = (
    'd=$(dirname -- "$1"); mkdir -p -- "$d" || exit 1; t="$d/.${1##*/}.$2"; '
    'if cat >"$t"; then [ ! -e "$1" ] || chmod --reference="$1" -- "$t"; mv -f -- "$t" "$1"; '
    'else rm -f -- "$t"; exit 1; fi'
)
_LIST = 'cd -- "$1" 2>/dev/null || exit 44; find -L . -mindepth 1 -maxdepth 1 -printf "%f\\0%y\\0"'


class ShellFiles:
    """The file half of the :class:`~packtivity.hosts.Host` interface, through :meth:`run`."""

    name: str

    def run(
        self,
        argv: list[str],
        *,
        stdin_text: Optional[str] = None,
        environment: Optional[dict[str, str]] = None,
    ) -> CommandResult:
        raise NotImplementedError

    def _home_directory(self) -> str:
        raise NotImplementedError

    def _sh(self, script: str, *args: str, stdin_text: Optional[str] = None) -> CommandResult:
        return self.run(["sh", "-c", script, "sh", *args], stdin_text=stdin_text)

    def _failed(self, what: str, result: CommandResult) -> OSError:
        why = (result.errors or result.output).strip() or f"exit {result.returncode}"
        return OSError(f"cannot {what} on {self.name}: {why}")

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path]).returncode == 0

    def is_dir(self, path: str) -> bool:
        return self.run(["test", "-d", path]).returncode == 0

    def existing(self, paths: list[str]) -> set[str]:
        if not paths:
            return set()
        result = self._sh('for f; do [ -e "$f" ] && printf "%s\\0" "$f"; done; exit 0', *paths)
        return {p for p in result.output.split("\0") if p} & set(paths)

    def read_text(self, path: str) -> str:
        result = self._sh(_READ, path)
        if result.returncode == _MISSING:
            raise FileNotFoundError(2, "no such file", path)
        if result.returncode != 0:
            raise self._failed(f"read {path}", result)
        return result.output

    def write_text(self, path: str, text: str) -> None:
        result = self._sh(_WRITE, path, uuid.uuid4().hex, stdin_text=text)
        if result.returncode != 0:
            raise self._failed(f"write {path}", result)

    def append_text(self, path: str, text: str) -> None:
        result = self._sh('cat >>"$1"', path, stdin_text=text)
        if result.returncode != 0:
            raise self._failed(f"append to {path}", result)

    def remove(self, path: str) -> None:
        result = self.run(["rm", "-f", "--", path])
        if result.returncode != 0:
            raise self._failed(f"remove {path}", result)

    def make_dirs(self, path: str) -> None:
        result = self.run(["mkdir", "-p", "--", path])
        if result.returncode != 0:
            raise self._failed(f"create {path}", result)

    def glob(self, pattern: str) -> list[str]:
        def listdir(directory: str) -> Optional[list[tuple[str, bool]]]:
            result = self._sh(_LIST, directory)
            if result.returncode != 0:
                return None
            fields = result.output.split("\0")
            return [(fields[i], fields[i + 1] == "d") for i in range(0, len(fields) - 1, 2)]

        return host_glob(pattern, listdir, self.exists)

    def expanduser(self, path: str) -> str:
        if path == "~" or path.startswith("~/"):
            return self._home_directory() + path[1:]
        return path

    def remove_tree(self, path: str) -> None:
        result = self.run(["rm", "-rf", "--", path])
        if result.returncode != 0:
            raise self._failed(f"remove {path}", result)

    def realpaths(self, paths: list[str]) -> list[str]:
        if not paths:
            return []
        # GNU coreutils (every Linux cluster): -m keeps missing components, -z separates by NUL
        result = self.run(["realpath", "-m", "-z", "--", *paths])
        resolved = result.output.split("\0")[: len(paths)]
        if result.returncode != 0 or len(resolved) != len(paths):
            raise self._failed(f"resolve {', '.join(paths)}", result)
        return resolved

    def getenv(self, name: str) -> Optional[str]:
        answers: dict[str, Optional[str]] = self.__dict__.setdefault("_environment", {})
        if name not in answers:  # asked once each: the login environment does not change
            result = self.run(["printenv", "--", name])
            answers[name] = result.output[:-1] if result.returncode == 0 else None
        return answers[name]

    def which(self, program: str) -> Optional[str]:
        result = self._sh('command -v -- "$1"', program)
        found = result.output.strip()
        return found if result.returncode == 0 and found.startswith("/") else None

    def sha256(self, path: str) -> str:
        result = self.run(["sha256sum", "--", path])
        if result.returncode != 0:
            raise self._failed(f"hash {path}", result)
        return result.output.split()[0]
