"""``PureJsonModel``: the plain-JSON data model (``PACKTIVITY_DATAMODEL_IMPL=purejson``)."""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator, Optional, Tuple

from ..utils import leaf_iterator


class PureJsonModel:
    """Same interface as :class:`~packtivity.typedleafs.TypedLeafs`, without typed leaves."""

    def __init__(self, data: Any, modelspec: Optional[dict[str, Any]] = None) -> None:
        if isinstance(data, PureJsonModel):
            data = data.json()
        self.data = data

    def __repr__(self) -> str:
        return f"<JSON {self.data}>"

    def __getitem__(self, key: Any) -> Any:
        return self.data.__getitem__(key)

    def __iter__(self) -> Iterator[Any]:
        return self.data.__iter__()

    def __len__(self) -> int:
        return self.data.__len__()

    def __delitem__(self, key: Any) -> None:
        self.data.__delitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data.__setitem__(key, value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PureJsonModel):
            return bool(self.data == other.data)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def fromJSON(
        cls, data: Any, deserialization_opts: Optional[dict[str, Any]] = None
    ) -> PureJsonModel:
        return cls(data)

    def json(self) -> Any:
        return self.data

    def copy(self) -> PureJsonModel:
        return copy.deepcopy(self)

    def typed(self, idleafs: bool = False) -> Any:
        return self.data

    def resolve_ref(self, reference: Any) -> Any:
        return reference.get(self.typed())

    def jsonpointer(self, pointer_str: str) -> Any:
        import jsonpointer

        return jsonpointer.JsonPointer(pointer_str).resolve(self.data)

    def jsonpath(self, jsonpath_expression: str, multiple_output: bool = False) -> Any:
        import jsonpath_rw

        matches = jsonpath_rw.parse(jsonpath_expression).find(self.data)
        return [m.value for m in matches] if multiple_output else matches[0].value

    def jq(self, jq_program: str, *args: Any, **kwargs: Any) -> PureJsonModel:
        import jq

        program = jq.compile(jq_program).input(self.json())
        multiple = kwargs.pop("multiple_output", False)
        return PureJsonModel(program.all() if multiple else program.first())

    def leafs(self) -> Iterator[Tuple[Any, Any]]:
        yield from leaf_iterator(self.typed())

    def replace(self, path: Any, value: Any) -> None:
        self.data = path.set(self.json(), value, inplace=True)

    def asrefs(self, callback: Optional[Callable[[Any], Any]] = None) -> Any:
        data = self.copy().json()
        for pointer, _ in self.leafs():
            if pointer.path == "":
                return pointer if not callback else callback(pointer)
            pointer.set(data, pointer if not callback else callback(pointer))
        return data
