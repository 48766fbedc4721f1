"""The one guarded reader of files a user names: specs, parameter and state files, the config
file, image maps, proxies, backend options.

Every read is bounded in time and memory, and every way a file can be wrong is one line that
names the file (the caller's ``error_class``, a :class:`~packtivity.errors.BadInput`):

* only regular files are read: a directory, FIFO, device or socket is refused without
  blocking (a FIFO nobody writes, ``/dev/zero``);
* at most :data:`MAX_BYTES` bytes; text must be UTF-8;
* YAML is JSON's data: no dates (a date stays the text it was), no ``!!binary``, ``!!set``,
  ``!!omap``, ``!!python/...``; at most :data:`MAX_DEPTH` levels deep and
  :data:`MAX_NODES` values *after* alias expansion (a "billion laughs" document of a few
  hundred bytes is refused before anything walks it);
* JSON: the same depth and size limits;
* what was read has the type the caller expects (a mapping, usually).

``docs/limits.md`` lists the limits.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from typing import Any, Optional

from .errors import BadInput

MAX_BYTES = 16 * 1024 * 1024  #: 16 MiB: far above any spec, parameter file or proxy
MAX_DEPTH = 100  #: levels of nesting
MAX_NODES = 1_000_000  #: values, with every alias expanded


@functools.cache
def _loader_class() -> Any:
    """YAML's safe loader with JSON's types: timestamps stay strings; tags JSON has no form
    for are errors.  Made on first use: a run whose spec comes from the spec cache reads no
    YAML, and importing ``yaml`` costs about 20 ms of start-up."""
    import yaml

    class JsonYamlLoader(yaml.SafeLoader):
        pass

    JsonYamlLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def no_json_form(loader: Any, node: Any) -> Any:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.tag} has no form in JSON", node.start_mark
        )

    for tag in ("binary", "set", "omap", "pairs", "timestamp"):
        JsonYamlLoader.add_constructor(f"tag:yaml.org,2002:{tag}", no_json_form)
    return JsonYamlLoader


def _expanded_size(node: Any) -> int:
    """The number of values ``node`` stands for with every alias expanded, counted without
    expanding (each node once, with its size remembered); :class:`ValueError` for a document
    that is too deep, too large, or refers to itself."""
    import yaml

    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(current: Any, depth: int) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if depth > MAX_DEPTH:
            raise ValueError(f"it is nested more than {MAX_DEPTH} levels deep")
        if key in visiting:
            raise ValueError("an alias refers to a value that contains it")
        visiting.add(key)
        total = 1
        if isinstance(current, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in current.value)
        elif isinstance(current, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in current.value)
        visiting.discard(key)
        if total > MAX_NODES:
            raise ValueError(f"it stands for more than {MAX_NODES:,} values (aliases expanded)")
        sizes[key] = total
        return total

    return size(node, 0)


def _load_bounded(text: str) -> Any:
    """YAML ``text`` as JSON-like data: ``yaml.YAMLError`` for text that is not YAML (control
    characters included), ``ValueError`` for a document beyond the limits."""
    loader = None
    try:
        loader = _loader_class()(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_yaml(text: str, what: str, error_class: type[BadInput] = BadInput) -> Any:
    """YAML ``text`` as JSON-like data within the limits; ``what`` names it in errors."""
    import yaml

    try:
        return _load_bounded(text)
    except yaml.YAMLError as error:
        raise error_class(f"{what} is not valid YAML: {_one_line(error)}") from None
    except ValueError as error:
        raise error_class(f"{what} is refused: {error}") from None


def parse_yaml_value(text: str, what: str, error_class: type[BadInput] = BadInput) -> Any:
    """A value given as YAML (``-p name=VALUE``): its data where ``text`` is YAML within the
    limits, else the text itself (``{workdir}/out.txt`` is not YAML: it stays that string)."""
    import yaml

    try:
        return _load_bounded(text)
    except yaml.YAMLError:
        return text
    except ValueError as error:
        raise error_class(f"{what} is refused: {error}") from None


def parse_json(text: str, what: str, error_class: type[BadInput] = BadInput) -> Any:
    """JSON ``text`` within the limits; ``what`` names it in errors."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise error_class(f"{what} is refused: it is nested too deeply") from None
    except ValueError as error:
        raise error_class(f"{what} is not valid JSON: {error}") from None
    try:
        _check_json_size(data)
    except ValueError as error:
        raise error_class(f"{what} is refused: {error}") from None
    return data


def _check_json_size(data: Any) -> None:
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"it is nested more than {MAX_DEPTH} levels deep")
        if count > MAX_NODES:
            raise ValueError(f"it holds more than {MAX_NODES:,} values")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def read_text(
    path: str,
    what: str,
    error_class: type[BadInput] = BadInput,
    content_error_class: Optional[type[BadInput]] = None,
) -> str:
    """The UTF-8 text of the regular file ``path`` (at most :data:`MAX_BYTES`);
    ``content_error_class`` (default ``error_class``) when the bytes are not UTF-8 text."""
    label = f"{what} '{path}'"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error_class(f"cannot read {label}: it does not exist") from None
    except IsADirectoryError:
        raise error_class(f"cannot read {label}: it is a directory") from None
    except OSError as error:
        raise error_class(f"cannot read {label}: {error.strerror or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error_class(f"cannot read {label}: it is a directory")
        if not stat.S_ISREG(mode):
            raise error_class(f"cannot read {label}: it is not a regular file (a FIFO, device "
                              "or socket is not read)")  # fmt: skip
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BYTES:
                raise error_class(
                    f"{label} is larger than {MAX_BYTES // (1024 * 1024)} MiB: not read"
                )
            chunks.append(chunk)
    except OSError as error:
        raise error_class(f"cannot read {label}: {error.strerror or error}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise (content_error_class or error_class)(
            f"{label} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None


def read_yaml(
    path: str,
    what: str,
    error_class: type[BadInput] = BadInput,
    expect: Optional[type] = dict,
) -> Any:
    """The YAML (or JSON) file ``path`` within the limits, of type ``expect`` (an empty
    file is an empty mapping when a mapping is expected)."""
    label = f"{what} '{path}'"
    data = parse_yaml(read_text(path, what, error_class), label, error_class)
    if data is None and expect is dict:
        return {}
    return _expected(data, label, expect, error_class)


def read_json(
    path: str,
    what: str,
    error_class: type[BadInput] = BadInput,
    expect: Optional[type] = dict,
) -> Any:
    """The JSON file ``path`` within the limits, of type ``expect``."""
    label = f"{what} '{path}'"
    data = parse_json(read_text(path, what, error_class), label, error_class)
    return _expected(data, label, expect, error_class)


def _expected(data: Any, label: str, expect: Optional[type], error_class: type[BadInput]) -> Any:
    if expect is not None and not isinstance(data, expect):
        wanted = "a mapping" if expect is dict else f"a {expect.__name__}"
        raise error_class(f"{label} must hold {wanted}, not {_kind(data)}")
    return data


def _kind(data: Any) -> str:
    if data is None:
        return "nothing"
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false", dict: "a mapping"}.get(type(data), type(data).__name__)  # fmt: skip


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
