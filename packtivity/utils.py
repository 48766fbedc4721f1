"""Small helpers the original exposed in ``packtivity.utils`` (kept for plugins and clients)."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Optional, Tuple

Registry = dict[str, dict[str, Callable[..., Any]]]


def handler_decorator() -> Tuple[Registry, Callable[..., Callable[[Callable[..., Any]], Any]]]:
    """Make a handler registry and its decorator.

    ``handlers, register = handler_decorator()``; ``@register("name")`` (optionally
    ``implementation="x"``) files a function under ``handlers["name"]["x"]``.  This is the
    plugin mechanism of the original: a plugin module imports e.g.
    ``packtivity.handlers.publisher_handlers`` and decorates its own function.
    """
    handlers: Registry = {}

    def decorator(
        name: str, implementation: str = "default"
    ) -> Callable[[Callable[..., Any]], Any]:
        def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
            handlers.setdefault(name, {})[implementation] = func
            return func

        return wrap

    return handlers, decorator


def secho(message: Any, err: bool = False, **style: Any) -> None:
    """``click.secho``, without colour where NO_COLOR is set (https://no-color.org); click
    already leaves it out where the output is not a terminal."""
    import click

    color = False if os.environ.get("NO_COLOR") else None
    click.secho(message, err=err, color=color, **style)


def one_line(message: Any) -> str:
    """A message (an exception, a library's multi-line text) folded onto one line."""
    return " ".join(str(message).split())


def mkdir_p(path: str) -> None:
    """``mkdir -p``."""
    os.makedirs(path, exist_ok=True)


def leaf_iterator(jsonable: Any) -> Iterator[Tuple[Any, Any]]:
    """Yield ``(JsonPointer, value)`` for every scalar leaf of a JSON value, in document order."""
    import jsonpointer

    if not isinstance(jsonable, (list, dict)):
        yield jsonpointer.JsonPointer(""), jsonable
        return
    for parts in scalar_paths(jsonable):
        pointer = jsonpointer.JsonPointer.from_parts(parts)
        yield pointer, pointer.get(jsonable)


def scalar_paths(jsonable: Any, prefix: Optional[list[Any]] = None) -> Iterator[list[Any]]:
    """Paths (lists of keys/indices) to every scalar leaf, like jq's ``paths(scalars)``.

    Empty containers have no scalar leaves, as in jq.
    """
    prefix = prefix or []
    if isinstance(jsonable, dict):
        for key, value in jsonable.items():
            yield from scalar_paths(value, [*prefix, key])
    elif isinstance(jsonable, list):
        for index, value in enumerate(jsonable):
            yield from scalar_paths(value, [*prefix, index])
    else:
        yield prefix


def load_packtivity(
    spec: str,
    toplevel: Optional[str] = None,
    schemasource: Any = None,
    validate: bool = True,
) -> dict[str, Any]:
    """Load a packtivity spec (see :func:`packtivity.spec.load_spec`).

    Same signature as the original; ``toplevel`` defaults to the current directory at call
    time and ``schemasource`` to the schemas bundled with yadage-schemas.
    """
    from .spec import load_spec

    return load_spec(spec, toplevel, schemasource, validate)
