"""Writing user files so that a failure never leaves a half-written or clobbered file."""

from __future__ import annotations

import errno
import json
import os
import stat
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

    A symbolic link is written through (its target gets the text; the link stays a link), and
    a character device (``-o /dev/null``, ``/dev/stdout``) is written to as it is, never
    replaced by a file.  A FIFO, socket or directory is refused with ``OSError``.
    """
    target = Path(os.path.realpath(path))  # through links: the link itself stays as it is
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISCHR(mode):
        with open(target, "w", encoding="utf-8") as device:
            device.write(text)
        return
    if mode is not None and not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise OSError(errno.EINVAL, f"{kind}: not replaced", str(path))
    directory = target.parent
    fd, tmpname = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmpname, mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmpname, 0o666 & ~umask)
        os.replace(tmpname, target)
    except BaseException as error:
        if os.path.exists(tmpname):
            os.unlink(tmpname)
        if isinstance(error, OSError) and error.filename is None:  # name the file in errors
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise


def write_json_atomic(path: Union[str, os.PathLike[str]], data: Any) -> None:
    """Serialise ``data`` first (so a bad value fails before any file is touched), then write."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
