"""Process types: turn a process template and parameters into a job.

A job is ``{"command": str}`` or ``{"script": str, "interpreter": str}``.  Interpolation is
Python ``str.format`` over the parameters, with top-level list values joined by spaces (the
original's rule).  A ``{name}`` with no such parameter raises
:class:`~packtivity.errors.ParameterError` naming it and the parameters that exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..interpolation import interpolate
from ..utils import handler_decorator, secho

if TYPE_CHECKING:
    from ..protocol import State

handlers, process = handler_decorator()


@process("string-interpolated-cmd")
def stringinterp_handler(
    process_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> dict[str, Any]:
    return {"command": interpolate(process_spec["cmd"], parameters.typed(), "command template")}


@process("interpolated-script-cmd")
def interp_script(
    process_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> dict[str, Any]:
    return {
        "script": interpolate(process_spec["script"], parameters.typed(), "script template"),
        "interpreter": process_spec.get("interpreter", "sh"),
    }


@process("manual-instructions-proc")
def manual_proc(
    process_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> Optional[dict[str, Any]]:
    import yaml

    secho(process_spec["instructions"], fg="blue")
    secho(yaml.safe_dump(parameters.json(), default_flow_style=False), fg="cyan")
    return None
