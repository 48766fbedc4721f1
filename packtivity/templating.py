"""Scripts from the templates in ``templates/`` (Mustache, the engine PSI/J uses too).

Templates are rendered without any escaping: every value a template receives must already be
what the script needs -- shell words come quoted with :func:`shlex.quote` by the caller.  A tag
the caller did not supply is an error, never an empty string.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
#: installed wheels carry ``packtivity/templates``; a source checkout has ``templates/`` beside
#: the package
TEMPLATE_DIRS = (_PACKAGE / "templates", _PACKAGE.parent / "templates")


def template_path(name: str) -> Path:
    for directory in TEMPLATE_DIRS:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"template {name} is missing from {', '.join(map(str, TEMPLATE_DIRS))}")


@functools.cache
def _parsed(name: str) -> tuple[Any, Any]:
    """The renderer and the parsed template ``name`` (read and parsed once per process)."""
    import pystache

    renderer = pystache.Renderer(escape=lambda text: text, missing_tags="strict")
    return renderer, pystache.parse(template_path(name).read_text(encoding="utf-8"))


def render(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/<name>`` with ``context``."""
    renderer, template = _parsed(name)
    text = str(renderer.render(template, context))
    return text if text.endswith("\n") else text + "\n"  # pystache drops the last newline
