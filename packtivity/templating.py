"""Scripts from the templates in ``templates/`` (Mustache, the engine PSI/J uses too).

Templates are rendered without any escaping: every value a template receives must already be
what the script needs -- shell words come quoted with :func:`shlex.quote` by the caller.  A tag
the caller did not supply is an error, never an empty string.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

#: the templates: ``templates/`` at the top of the project, which ``packtivity/templates`` links
#: to in a checkout and the wheel carries as ``packtivity/templates`` (the same lookup for both)
TEMPLATES = Path(__file__).resolve().parent / "templates"


def template_path(name: str) -> Path:
    path = TEMPLATES / name
    if not path.is_file():
        raise FileNotFoundError(f"template {name} is missing from {TEMPLATES}")
    return path


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
