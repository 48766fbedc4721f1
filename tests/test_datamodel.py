"""TypedLeafs and PureJsonModel: the methods yadage uses."""

from __future__ import annotations

import base64
import json

import jsonpointer
import pytest

from packtivity import datamodel
from packtivity.datamodels.purejson import PureJsonModel
from packtivity.errors import BadInput
from packtivity.typedleafs import TypedLeafs


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    @classmethod
    def fromJSON(cls, data):
        return cls(data["x"], data["y"])

    def json(self):
        return {"x": self.x, "y": self.y}


MODEL = {"keyword": "$type", "types": {"point": Point}}


def test_typed_leaves_round_trip() -> None:
    data = TypedLeafs({"p": {"$type": "point", "x": 1, "y": 2}, "n": [1, 2]}, MODEL)
    assert isinstance(data["p"], Point) and data["p"].y == 2
    assert data.json() == {"p": {"$type": "point", "x": 1, "y": 2}, "n": [1, 2]}
    copied = data.copy()
    assert copied.json() == data.json() and copied is not data
    assert TypedLeafs.fromJSON(data.json(), {"leafmodel": MODEL}).json() == data.json()


def test_typed_objects_are_leafs() -> None:
    """As in the original (which walked ``paths(scalars)`` of the id-leafed form): a typed object
    is one leaf, so leafs(), asrefs() and pointers into it work on typed data (before the fix:
    JsonPointerException, 'Document Point does not support indexing')."""
    data = TypedLeafs({"p": {"$type": "point", "x": 1, "y": 2}, "n": [1, {"q": 3}]}, MODEL)
    leafs = dict((pointer.path, value) for pointer, value in data.leafs())
    assert sorted(leafs) == ["/n/0", "/n/1/q", "/p"]
    assert isinstance(leafs["/p"], Point) and leafs["/p"].x == 1
    assert isinstance(data.jsonpointer("/p"), Point)
    assert isinstance(data.resolve_ref(jsonpointer.JsonPointer("/p")), Point)
    assert data.asrefs()["p"] == jsonpointer.JsonPointer("/p")


def test_b64json_leaves_are_decoded() -> None:
    encoded = "b64json://" + base64.b64encode(json.dumps({"a": [1, 2]}).encode()).decode()
    assert TypedLeafs({"v": encoded}).json() == {"v": {"a": [1, 2]}}


def test_queries() -> None:
    data = TypedLeafs({"a": {"b": [10, 20]}, "c": "x"})
    assert data.jsonpointer("/a/b/1") == 20
    assert data.resolve_ref(jsonpointer.JsonPointer("/c")) == "x"
    assert data.jsonpath("a.b[0]") == 10
    assert data.jsonpath("a.b[*]", multiple_output=True) == [10, 20]
    assert data.jq(".a.b | add").json() == 30
    assert data.jq(".a.b[]", multiple_output=True).json() == [10, 20]
    assert sorted(p.path for p, _ in data.leafs()) == ["/a/b/0", "/a/b/1", "/c"]
    assert data.asrefs() == {
        "a": {"b": [jsonpointer.JsonPointer("/a/b/0"), jsonpointer.JsonPointer("/a/b/1")]},
        "c": jsonpointer.JsonPointer("/c"),
    }
    data.replace(jsonpointer.JsonPointer("/c"), "y")
    assert data["c"] == "y" and len(data) == 2 and set(data) == {"a", "c"}
    scalar = TypedLeafs(5)
    assert list(scalar.leafs()) == [(jsonpointer.JsonPointer(""), 5)]


def test_purejson_impl(monkeypatch) -> None:
    monkeypatch.setenv("PACKTIVITY_DATAMODEL_IMPL", "purejson")
    data = datamodel.create({"a": [1, 2]})
    assert isinstance(data, PureJsonModel)
    assert data.jq(".a[0]").json() == 1 and sorted(p.path for p, _ in data.leafs()) == [
        "/a/0",
        "/a/1",
    ]
    monkeypatch.setenv("PACKTIVITY_DATAMODEL_IMPL", "other")
    with pytest.raises(BadInput, match="unknown PACKTIVITY_DATAMODEL_IMPL 'other'"):
        datamodel.create({})
