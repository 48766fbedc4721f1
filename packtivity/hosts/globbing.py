"""``glob`` over any file system that can list a directory (used for hosts reached over SFTP).

Same rules as ``glob.glob(pattern, recursive=True)``: ``*``, ``?`` and ``[...]`` match within one
path component, ``**`` matches any number of directories, names starting with ``.`` match only
a pattern component that starts with ``.``.  Results are sorted.
"""

from __future__ import annotations

import fnmatch
import glob
import posixpath
from typing import Callable, Optional

#: ``listdir(path) -> [(name, is_dir), ...]``, or None when ``path`` is not a readable directory
Lister = Callable[[str], Optional[list[tuple[str, bool]]]]


def host_glob(pattern: str, listdir: Lister, exists: Callable[[str], bool]) -> list[str]:
    if not glob.has_magic(pattern):
        return [pattern] if exists(pattern) else []
    absolute = pattern.startswith("/")
    parts = [part for part in pattern.split("/") if part]
    candidates = ["/" if absolute else ""]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        found: list[str] = []
        for base in candidates:
            found.extend(_expand(base, part, last, listdir))
        candidates = found
        if not candidates:
            return []
    if not glob.has_magic(parts[-1]):
        candidates = [c for c in candidates if exists(c)]
    return sorted(set(candidates))


def _join(base: str, name: str) -> str:
    return posixpath.join(base, name) if base else name


def _expand(base: str, part: str, last: bool, listdir: Lister) -> list[str]:
    if part == "**":
        return [(_join(base, "") if last else base), *_walk(base, listdir, files=last)]
    if not glob.has_magic(part):
        return [_join(base, part)]
    entries = listdir(base or ".") or []
    return [
        _join(base, name)
        for name, is_dir in entries
        if (last or is_dir) and _visible(name, part) and fnmatch.fnmatchcase(name, part)
    ]


def _visible(name: str, part: str) -> bool:
    return not name.startswith(".") or part.startswith(".")


def _walk(base: str, listdir: Lister, files: bool) -> list[str]:
    """Every directory below ``base`` (and every file, with ``files``), hidden ones skipped."""
    found = []
    for name, is_dir in listdir(base or ".") or []:
        if name.startswith("."):
            continue
        path = _join(base, name)
        if is_dir:
            found.append(path)
            found.extend(_walk(path, listdir, files))
        elif files:
            found.append(path)
    return found
