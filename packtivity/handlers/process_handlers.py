"""Process types: turn a process template and parameters into a job.

A job is ``{"command": str}`` or ``{"script": str, "interpreter": str}``.  Interpolation is
Python ``str.format`` over the parameters, with top-level list values joined by spaces (the
original's rule).  A ``{name}`` with no such parameter raises
:class:`~packtivity.errors.ParameterError` naming it and the parameters that exist.
"""

from __future__ import annotations

from typing import Any, Optional

import click
import yaml

from ..errors import ParameterError
from ..utils import handler_decorator

handlers, process = handler_decorator()


def _flatten(value: Any) -> Any:
    return " ".join(str(x) for x in value) if isinstance(value, list) else value


def interpolate(template: str, parameters: Any, what: str) -> str:
    """``template.format`` over the parameters, with a clear error for a missing one."""
    typed = parameters.typed()
    try:
        if isinstance(typed, dict):
            return template.format(**{k: _flatten(v) for k, v in typed.items()})
        if isinstance(typed, list):
            return template.format(*[_flatten(v) for v in typed])
        return template.format(value=typed)
    except KeyError as error:
        name = error.args[0]
        known = ", ".join(sorted(typed)) if isinstance(typed, dict) and typed else "none"
        raise ParameterError(
            f"the {what} refers to parameter '{{{name}}}' but no such parameter was given "
            f"(parameters: {known})"
        ) from None
    except IndexError:
        count = len(typed) if isinstance(typed, list) else 0
        raise ParameterError(
            f"the {what} refers to a positional parameter beyond the {count} given"
        ) from None
    except ValueError as error:
        raise ParameterError(f"the {what} is not a valid format template: {error}") from None


@process("string-interpolated-cmd")
def stringinterp_handler(
    process_spec: dict[str, Any], parameters: Any, state: Any
) -> dict[str, Any]:
    return {"command": interpolate(process_spec["cmd"], parameters, "command template")}


@process("interpolated-script-cmd")
def interp_script(process_spec: dict[str, Any], parameters: Any, state: Any) -> dict[str, Any]:
    return {
        "script": interpolate(process_spec["script"], parameters, "script template"),
        "interpreter": process_spec.get("interpreter", "sh"),
    }


@process("manual-instructions-proc")
def manual_proc(
    process_spec: dict[str, Any], parameters: Any, state: Any
) -> Optional[dict[str, Any]]:
    click.secho(process_spec["instructions"], fg="blue")
    click.secho(yaml.safe_dump(parameters.json(), default_flow_style=False), fg="cyan")
    return None
