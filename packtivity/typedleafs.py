"""``TypedLeafs``: JSON data whose leaves may be typed Python objects.

A ``leafmodel`` (``{"keyword": "$type", "types": {"name": Class or "module:Class"}}``) says how
objects with ``{"$type": "name", ...}`` become instances of ``Class`` (via ``Class.fromJSON``) and
back (via ``obj.json()``).  Leaves written as ``b64json://<base64 of JSON>`` are decoded into JSON
values.  This is the original's data model, with the methods yadage uses: ``json``, ``typed``,
``copy``, item access, ``jq``, ``jsonpath``, ``jsonpointer``, ``resolve_ref``, ``asrefs``,
``leafs``, ``replace``, ``fromJSON``.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
import logging
from typing import Any, Callable, Iterator, Optional, Tuple

from .utils import scalar_paths

log = logging.getLogger(__name__)

CANONICAL_LEAF_MAGIC = "b64json://"


class LeafModel:
    """How typed leaves are recognised, loaded and dumped (see module docstring)."""

    def __init__(self, spec: Optional[dict[str, Any]]) -> None:
        self.datamodel = spec or {"keyword": None, "types": {}}
        self._types2str: dict[type, str] = {}
        self._str2types: dict[str, type] = {}
        for name, class_def in self.datamodel["types"].items():
            if isinstance(class_def, type):
                cls = class_def
            elif isinstance(class_def, str):
                module, classname = class_def.split(":")
                cls = getattr(importlib.import_module(module), classname)
            else:
                raise RuntimeError(f"not sure how to interpret type def {class_def!r}")
            self._types2str[cls] = name
            self._str2types[name] = cls
        self.keyword = self.datamodel["keyword"]
        self.canonical_leaf_magic = CANONICAL_LEAF_MAGIC
        self.magics = [CANONICAL_LEAF_MAGIC]
        self.litparser: Optional[Callable[[str], Any]] = None
        literals = self.datamodel.get("literals")
        if literals:
            module, func = literals["parser"].split(":")
            self.litparser = getattr(importlib.import_module(module), func)
            self.magics += literals["magics"]

    def leaf_encode(self, obj: Any) -> str:
        payload = json.dumps(self.dumper(obj)).encode("utf-8")
        return CANONICAL_LEAF_MAGIC + base64.b64encode(payload).decode("utf-8")

    def leaf_decode(self, encoded: str) -> Any:
        for magic in self.magics:
            if encoded.startswith(magic):
                if magic == CANONICAL_LEAF_MAGIC:
                    payload = encoded[len(CANONICAL_LEAF_MAGIC) :]
                    return json.loads(base64.b64decode(payload).decode("utf-8"))
                assert self.litparser is not None
                return self.litparser(encoded)
        raise RuntimeError(f"cannot decode {encoded}")

    def is_encoded(self, value: Any) -> bool:
        return isinstance(value, str) and any(value.startswith(m) for m in self.magics)

    def loader(self, spec: dict[str, Any], idleafs: bool) -> Any:
        if not self.keyword or self.keyword not in spec:
            return spec
        spec = dict(spec)
        cls = self._str2types[spec.pop(self.keyword)]
        obj = cls.fromJSON(spec)  # type: ignore[attr-defined]
        return self.leaf_encode(obj) if idleafs else obj

    def dumper(self, obj: Any) -> Any:
        data = obj.json()
        if type(obj) is not TypedLeafs:
            try:
                data[self.keyword] = self._types2str[type(obj)]
            except KeyError:
                log.exception("could not find type in %s", self._types2str)
                raise
        return data


def _decode_magic_leaves(data: Any, model: LeafModel) -> Any:
    if isinstance(data, dict):
        return {k: _decode_magic_leaves(v, model) for k, v in data.items()}
    if isinstance(data, list):
        return [_decode_magic_leaves(v, model) for v in data]
    if model.is_encoded(data):
        return model.leaf_decode(data)
    return data


class TypedLeafs:
    """JSON data with typed leaves; see the module docstring."""

    def __init__(
        self, data: Any, leafmodel: Optional[dict[str, Any]] = None, idleafs: bool = False
    ):
        self.leafmodel = leafmodel
        self._leafmodel = LeafModel(leafmodel)
        if isinstance(data, TypedLeafs):
            data = data.json()
        self._jsonable = data

    def __repr__(self) -> str:
        return f"<TypedLeafs: {self.typed()}>"

    def __getitem__(self, key: Any) -> Any:
        return self.typed().__getitem__(key)

    def __iter__(self) -> Iterator[Any]:
        return self.typed().__iter__()

    def __len__(self) -> int:
        return self.typed().__len__()

    def __delitem__(self, key: Any) -> None:
        self._jsonable.__delitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        data = self._jsonable
        data.__setitem__(key, value)
        self._jsonable = data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TypedLeafs):
            return bool(self.json() == other.json())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def _jsonable(self) -> Any:
        return self.__jsonable

    @_jsonable.setter
    def _jsonable(self, value: Any) -> None:
        # normalise: typed objects become their JSON, b64json:// leaves are decoded
        plain = json.loads(json.dumps(value, default=self._leafmodel.dumper))
        self.__jsonable = _decode_magic_leaves(plain, self._leafmodel)

    @classmethod
    def fromJSON(
        cls, data: Any, deserialization_opts: Optional[dict[str, Any]] = None
    ) -> TypedLeafs:
        opts = deserialization_opts or {}
        return cls(data, opts.get("leafmodel"), opts.get("idleafs", False))

    def _load_from_string(self, jsonstring: str, typed: bool = True, idleafs: bool = False) -> Any:
        if not typed:
            return json.loads(jsonstring)
        return json.loads(
            jsonstring, object_hook=lambda spec: self._leafmodel.loader(spec, idleafs)
        )

    def replace(self, path: Any, value: Any) -> None:
        """Set the leaf at JSON pointer ``path`` to ``value``."""
        self._jsonable = TypedLeafs(
            path.set(self.json(), value, inplace=False), self.leafmodel
        ).json()

    # representation
    def json(self) -> Any:
        return self._jsonable

    def typed(self, idleafs: bool = False) -> Any:
        if not self._leafmodel.keyword:
            return copy.deepcopy(self._jsonable)
        return self._load_from_string(json.dumps(self._jsonable, sort_keys=True), True, idleafs)

    def copy(self) -> TypedLeafs:
        return TypedLeafs(copy.deepcopy(self.typed()), self.leafmodel)

    def asrefs(self, callback: Optional[Callable[[Any], Any]] = None) -> Any:
        data = self.copy().json()
        for pointer, _ in self.leafs():
            if pointer.path == "":
                return pointer if not callback else callback(pointer)
            pointer.set(data, pointer if not callback else callback(pointer))
        return data

    # queries
    def resolve_ref(self, reference: Any) -> Any:
        return reference.get(self.typed())

    def jsonpointer(self, pointer_str: str) -> Any:
        import jsonpointer

        return jsonpointer.JsonPointer(pointer_str).resolve(self.typed())

    def jsonpath(self, jsonpath_expression: str, multiple_output: bool = False) -> Any:
        import jsonpath_rw

        matches = jsonpath_rw.parse(jsonpath_expression).find(self.typed())
        if not multiple_output:
            return matches[0].value
        return [match.value for match in matches]

    def jq(self, jq_program: str, *args: Any, **kwargs: Any) -> TypedLeafs:
        import jq

        program = jq.compile(jq_program)
        data = self.typed(idleafs=True)
        if kwargs.pop("multiple_output", False):
            result: Any = program.input(data).all()
        else:
            result = program.input(data).first()
        return TypedLeafs(result, self.leafmodel, idleafs=True)

    def leafs(self) -> Iterator[Tuple[Any, Any]]:
        """``(JsonPointer, value)`` of every leaf: scalars, and typed objects as a whole (their
        JSON is not walked into), as the original gave them."""
        import jsonpointer

        typed = self.typed()
        if not isinstance(typed, (list, dict)):
            yield jsonpointer.JsonPointer(""), typed
            return
        for parts in scalar_paths(self.typed(idleafs=True)):
            pointer = jsonpointer.JsonPointer.from_parts(parts)
            yield pointer, pointer.get(typed)
