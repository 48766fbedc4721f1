"""A step's inputs from the command line: parameters (``-p``, YAML files), the state (``-w``,
``-r``, ``-s``), files the result will be written to.

Every function raises a :class:`~packtivity.errors.BadInput` subclass naming the argument that
is wrong; none prints.
"""

from __future__ import annotations

import logging
import os
import stat
from typing import Any, Optional

from .errors import BadInput, ParameterError, StateError
from .hosts import Host

log = logging.getLogger(__name__)


def parse_parameter(text: str) -> tuple[str, Any]:
    """``name=value`` (split on the first ``=``).

    The value is parsed as YAML (``3`` is a number, ``[a, b]`` a list); a value that is not
    valid YAML, such as ``{workdir}/out.txt``, is taken as the plain string.
    """
    from .userfiles import parse_yaml_value

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"malformed parameter '{text}': use -p name=value")
    parsed = parse_yaml_value(value, f"parameter '{name.strip()}'", ParameterError)
    if parsed is value:
        log.debug("parameter %s: not YAML, taken as a string: %r", name, value)
    return name.strip(), parsed


def read_yaml_mapping(path: str, what: str, error_class: type[BadInput]) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (empty for an empty file), read by the guarded
    reader; ``error_class`` with ``what`` and the path when it cannot be read or is not a
    mapping."""
    from .userfiles import read_yaml

    data: dict[str, Any] = read_yaml(path, what, error_class)
    return data


def getinit_data(
    initfiles: tuple[str, ...] | list[str], parameters: tuple[str, ...] | list[str]
) -> dict[str, Any]:
    """Parameters from YAML files, then ``name=value`` strings (later ones win)."""
    initdata: dict[str, Any] = {}
    for initfile in initfiles:
        initdata.update(read_yaml_mapping(initfile, "parameter file", ParameterError))
    for text in parameters:
        name, value = parse_parameter(text)
        initdata[name] = value
    return initdata


def make_state(
    statefile: str, write: tuple[str, ...], read: tuple[str, ...], host: Optional[Host] = None
) -> Any:
    """The step state: from ``-s`` (YAML with readwrite/readonly, or state JSON), or -w/-r,
    with its directories on ``host`` (default: this machine), resolved there.

    With a ``host`` reached over SSH, -w/-r are paths on that host: absolute, or ``~/...``
    (quoted, so that the local shell leaves the ``~`` alone).
    """
    from .protocol import HostedState
    from .statecontexts import LocalFSState, load_state

    if statefile:
        data = read_yaml_mapping(statefile, "state file", StateError)
        if "state_type" in data:
            state = load_state(data)
        else:
            for key in ("readwrite", "readonly"):
                if not isinstance(data.get(key, []), list):
                    raise StateError(
                        f"state file '{statefile}': '{key}' must be a list of directories"
                    )
            state = LocalFSState(data.get("readwrite", []), data.get("readonly", []))
        return state.on_host(host) if host is not None and isinstance(state, HostedState) else state
    if host is None:
        return LocalFSState(list(write), list(read))
    return LocalFSState(
        [_path_on(host, w) for w in write], [_path_on(host, r) for r in read], host=host
    )


def _path_on(host: Host, path: str) -> str:
    """A -w/-r path on another machine: absolute, or ``~/...`` there (a relative path would
    be relative to a directory the user does not see)."""
    expanded = host.expanduser(path)
    if not expanded.startswith("/"):
        raise StateError(
            f"'{path}': with --ssh, -w and -r are directories on {host.name}: give them "
            "absolute, or as '~/...' in quotes"
        )
    return expanded


def check_writable(path: Optional[str]) -> None:
    """Fail before running when an output file could not be written afterwards."""
    if not path:
        return
    resolved = os.path.realpath(path)  # a link is written through: its target counts
    if os.path.exists(resolved) and stat.S_ISCHR(os.stat(resolved).st_mode):
        return  # a device (-o /dev/null) is written to as it is
    if os.path.exists(resolved) and not os.path.isfile(resolved) and not os.path.isdir(resolved):
        raise BadInput(f"cannot write '{path}': it is not a regular file (a FIFO or socket)")
    directory = os.path.dirname(resolved)
    if not os.path.isdir(directory):
        raise BadInput(f"cannot write '{path}': directory '{directory}' does not exist")
    if not os.access(directory, os.W_OK):
        raise BadInput(f"cannot write '{path}': directory '{directory}' is not writable")
    if os.path.isdir(path):
        raise BadInput(f"cannot write '{path}': it is a directory")
