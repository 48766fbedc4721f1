"""A cache of loaded, default-filled and validated local spec files.

Loading a spec imports yadage-schemas, jsonschema and requests and validates the spec: about
200 ms, more than most of a short step.  Running the same spec file again (a parameter scan
from the shell, a re-run after a failure) takes the result from this cache instead.

Contract:

* An entry is keyed by the sha256 of the spec file's bytes, the JSON-pointer fragment, and the
  installed packtivity and yadage-schemas (version and the files that fill the defaults); an
  edited file or an upgrade misses.  Only successfully validated loads are stored.
* Only self-contained local files are cached: a file that contains ``$ref`` depends on other
  files, and remote toplevels (``http(s)://``, ``github:``) can change behind the same name.
* Entries live in ``$XDG_CACHE_HOME/packtivity/specs`` (default ``~/.cache/...``; see
  :func:`cache_dir`), written
  atomically.  A cache that cannot be read or written is not used; it never fails a load.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from importlib.util import find_spec
from typing import Any, Optional

from . import __version__

log = logging.getLogger(__name__)


def cache_dir() -> str:
    """The user's cache directory for packtivity (platformdirs: ``$XDG_CACHE_HOME/packtivity``,
    default ``~/.cache/packtivity`` on Linux; ``~/Library/Caches/packtivity`` on macOS)."""
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("packtivity"), "specs")


def _fingerprint(path: str) -> list[Any]:
    try:
        stat = os.stat(path)
    except OSError:
        return [path]
    return [path, stat.st_size, stat.st_mtime_ns]


@functools.cache
def _installation() -> list[Any]:
    """What, besides the spec file, decides the loaded data (looked up once per process)."""
    schemas = find_spec("yadageschemas")
    origin = schemas.origin if schemas is not None and schemas.origin else ""
    here = os.path.dirname(os.path.abspath(__file__))
    return [
        __version__,
        _fingerprint(os.path.join(here, "spec.py")),
        _fingerprint(origin),
        _fingerprint(os.path.join(os.path.dirname(origin), "dialects", "raw_with_defaults.py")),
    ]


def cache_key(content: bytes, fragment: str) -> Optional[str]:
    """The entry's name for a spec file's ``content`` (+ ``#fragment``); None if it is not
    cacheable."""
    if b"$ref" in content:
        return None
    identity = [hashlib.sha256(content).hexdigest(), fragment, _installation()]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


#: the entry format; an entry is ``{"format", "key", "sha256", "spec"}``
ENTRY_FORMAT = "packtivity-speccache/1"


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def lookup(key: str) -> Optional[dict[str, Any]]:
    """The stored spec for ``key``, or None: a missing, unreadable, damaged or foreign entry
    (another format, another key, content that does not match its digest, not a packtivity)
    is a miss, and the load that follows replaces it."""
    try:
        with open(os.path.join(cache_dir(), f"{key}.json"), encoding="utf-8") as handle:
            entry = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != ENTRY_FORMAT:
        return None
    spec = entry.get("spec")
    if (
        entry.get("key") != key
        or not isinstance(spec, dict)
        or entry.get("sha256") != _digest(spec)
    ):
        log.debug("spec cache entry %s is damaged: not used", key)
        return None
    return spec if isinstance(spec.get("publisher"), dict) else None


def store(key: str, data: dict[str, Any]) -> None:
    """Keep ``data`` under ``key``; a cache that cannot be written is skipped (logged)."""
    from .atomicfile import write_text_atomic

    directory = cache_dir()
    entry = {"format": ENTRY_FORMAT, "key": key, "sha256": _digest(data), "spec": data}
    try:
        os.makedirs(directory, exist_ok=True)
        write_text_atomic(os.path.join(directory, f"{key}.json"), json.dumps(entry), durable=False)
    except OSError as error:
        log.debug("spec cache %s not written: %s", directory, error)
