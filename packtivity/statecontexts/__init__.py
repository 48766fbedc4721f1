"""State contexts: where a step reads and writes (``load_state`` turns JSON into one).

``load_state(jsondata, deserialization_opts)`` picks the loader: ``{"state": "py:module:Class"}``
in the options, else ``PACKTIVITY_STATEPROVIDER`` (a module with ``load_state``), else the
registered loader for ``jsondata["state_type"]`` (``localfs`` built in; plugins add more with
``@stateloader("name")``).
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Optional

from ..errors import StateError
from ..utils import handler_decorator
from .posixfs_context import LocalFSState

log = logging.getLogger(__name__)

statehandlers, stateloader = handler_decorator()

__all__ = ["LocalFSState", "load_state", "statehandlers", "stateloader"]


@stateloader("frompython")
def frompython_stateloader(jsondata: dict[str, Any], **opts: Any) -> Any:
    _, module, stateclass = opts["statestring"].split(":")
    return getattr(importlib.import_module(module), stateclass).fromJSON(jsondata)


@stateloader("localfs")
def localfs_stateloader(jsondata: dict[str, Any], **opts: Any) -> LocalFSState:
    return LocalFSState.fromJSON(jsondata)


@stateloader("fromenv")
def fromenv_stateloader(jsondata: dict[str, Any], **opts: Any) -> Any:
    module = importlib.import_module(os.environ["PACKTIVITY_STATEPROVIDER"])
    return module.load_state(jsondata)


def load_state(
    jsondata: dict[str, Any], deserialization_opts: Optional[dict[str, Any]] = None
) -> Any:
    log.debug("load_state opts %s", deserialization_opts)
    deserialization_opts = deserialization_opts or {}
    statestring = deserialization_opts.get("state", "")
    if statestring.startswith("py:"):
        return statehandlers["frompython"]["default"](jsondata, statestring=statestring)
    if "PACKTIVITY_STATEPROVIDER" in os.environ:
        return statehandlers["fromenv"]["default"](jsondata)
    if not isinstance(jsondata, dict) or "state_type" not in jsondata:
        raise StateError(f"a state must be a mapping with a 'state_type', got {jsondata!r:.200}")
    if jsondata["state_type"] in statehandlers:
        return statehandlers[jsondata["state_type"]]["default"](jsondata)
    raise StateError(
        f"unknown state type '{jsondata['state_type']}'; known: {', '.join(sorted(statehandlers))}"
    )
