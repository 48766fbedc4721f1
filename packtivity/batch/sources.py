"""Which accounting source of a cluster answers, remembered across processes.

A Slurm cluster keeps finished jobs in its accounting database (``sacct``) or only in its job
completion log (``sacct --completion``).  Asking one and then the other would cost every
``packtivity-checkproxy`` two programs where one does; the source that answered is written to
the user's cache directory (``accounting-sources.json``), by scheduler and host, and trusted
for a day.  A cache that cannot be read or
written costs only the extra question.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

#: remembered: none of the sources answers (a cluster without accounting)
NONE = -1
#: seconds a remembered source is trusted
TRUSTED_FOR = 86400.0


def _path() -> str:
    from ..speccache import cache_dir

    return os.path.join(os.path.dirname(cache_dir()), "accounting-sources.json")


def _read() -> dict[str, dict[str, float]]:
    try:
        with open(_path(), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(key: str, count: int) -> Optional[int]:
    """The index (below ``count``) of the source that answered for ``key`` (``slurm@host``),
    :data:`NONE` when none did, or None when nothing trusted is remembered."""
    entry = _read().get(key)
    if not isinstance(entry, dict):
        return None
    index, at = entry.get("source"), entry.get("at")
    if not isinstance(index, int) or not isinstance(at, (int, float)):
        return None
    if not (NONE <= index < count) or time.time() - at > TRUSTED_FOR:
        return None
    return index


def remember(key: str, index: Optional[int]) -> None:
    """Remember that source ``index`` answers for ``key`` (None: forget it)."""
    from ..atomicfile import write_json_atomic

    data = _read()
    if index is None:
        data.pop(key, None)
    else:
        data[key] = {"source": index, "at": time.time()}
    try:
        Path(_path()).parent.mkdir(parents=True, exist_ok=True)  # on this machine
        write_json_atomic(_path(), data)
    except OSError:
        pass  # only a cache: the next process asks again
