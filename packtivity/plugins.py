"""``enable_plugins``: import plugin modules so that their handlers register themselves."""

from __future__ import annotations

import importlib
import os
from typing import Optional


def enable_plugins(modules: Optional[list[str]] = None) -> None:
    """Import ``modules`` and those listed (comma-separated) in ``PACKTIVITY_PLUGINS``."""
    plugin_modules = list(modules or [])
    fromenv = os.environ.get("PACKTIVITY_PLUGINS", "")
    if fromenv:
        plugin_modules += [m for m in fromenv.split(",") if m]
    for plugin in plugin_modules:
        importlib.import_module(plugin)
