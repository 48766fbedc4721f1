"""Filling ``{name}`` templates from parameters, the original's way, with clear errors.

Python ``str.format`` over the parameters: a mapping gives ``{name}``, a list gives ``{0}``,
a scalar gives ``{value}``.  ``flatten_lists`` joins top-level list values with spaces (what
process templates do).  ``extra`` names (e.g. ``workdir`` for publishers) are available too.
"""

from __future__ import annotations

from typing import Any, Optional

from .errors import ParameterError


def _flatten(value: Any) -> Any:
    return " ".join(str(x) for x in value) if isinstance(value, list) else value


def interpolate(
    template: str,
    parameters: Any,
    what: str,
    extra: Optional[dict[str, Any]] = None,
    flatten_lists: bool = True,
) -> str:
    """Format ``template`` with the (typed) ``parameters``.

    Raises :class:`ParameterError` naming a missing ``{name}`` and the parameters that exist.
    """
    flatten = _flatten if flatten_lists else (lambda v: v)
    extra = extra or {}
    try:
        if isinstance(parameters, dict):
            merged = {k: flatten(v) for k, v in parameters.items()}
            merged.update(extra)
            return template.format(**merged)
        if isinstance(parameters, list):
            return template.format(*[flatten(v) for v in parameters], **extra)
        return template.format(value=parameters, **extra)
    except KeyError as error:
        name = error.args[0]
        known = sorted(parameters) if isinstance(parameters, dict) else []
        raise ParameterError(
            f"the {what} refers to parameter '{{{name}}}' but no such parameter was given "
            f"(parameters: {', '.join(known) or 'none'})"
        ) from None
    except IndexError:
        count = len(parameters) if isinstance(parameters, list) else 0
        raise ParameterError(
            f"the {what} refers to a positional parameter beyond the {count} given"
        ) from None
    except (ValueError, AttributeError, TypeError) as error:
        raise ParameterError(
            f"the {what} is not a valid template ({error}): {template!r}"
        ) from None
