"""The error for a spec that does not validate: a :class:`~packtivity.errors.SpecContentError`,
also a ``jsonschema.ValidationError``, as the original raised (``pytest.raises(ValidationError)``
in its tests; callers catch it).

A module of its own so that ``jsonschema`` is imported only when a spec is validated, never at
start-up (a spec taken from the spec cache imports neither).
"""

from __future__ import annotations

from typing import Any

import jsonschema

from .errors import SpecContentError


class SpecInvalid(SpecContentError, jsonschema.ValidationError):
    """A spec that does not match the packtivity schema.

    ``str()`` is packtivity's one line (the JSON path and what is wrong); the
    ``ValidationError`` attributes (``path``, ``validator``, ``instance``, ...) are those of the
    schema error that was picked to explain it.
    """

    def __init__(self, message: str, cause: Any = None) -> None:
        details: dict[str, Any] = {}
        if isinstance(cause, jsonschema.ValidationError):
            details = {
                "validator": cause.validator,
                "path": cause.path,
                "context": cause.context,
                "validator_value": cause.validator_value,
                "instance": cause.instance,
                "schema": cause.schema,
                "schema_path": cause.schema_path,
            }
        jsonschema.ValidationError.__init__(self, message, **details)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message,))
