"""Writing user files so that a failure never leaves a half-written or clobbered file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union


def write_text_atomic(
    path: Union[str, os.PathLike[str]], text: str, *, durable: bool = True
) -> None:
    """Write ``text`` to ``path`` atomically.

    The text goes to a temporary file in the same directory, is flushed to disk (``durable``:
    for users' files, which must survive a crash), and is then renamed over ``path``.  Readers
    see the old content or the new one, never a mix; if anything fails, ``path`` is untouched
    and the temporary file is removed.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmpname = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmpname, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmpname, 0o666 & ~umask)
        os.replace(tmpname, target)
    except BaseException:
        if os.path.exists(tmpname):
            os.unlink(tmpname)
        raise


def write_json_atomic(path: Union[str, os.PathLike[str]], data: Any) -> None:
    """Serialise ``data`` first (so a bad value fails before any file is touched), then write."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
