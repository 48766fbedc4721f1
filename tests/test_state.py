"""LocalFSState: JSON round trips, contextualisation, ensure/reset, hashing, load_state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packtivity.datamodel import create
from packtivity.errors import StateError
from packtivity.statecontexts import LocalFSState, load_state


def test_json_form_is_the_originals(tmp_path: Path) -> None:
    state = LocalFSState(
        [str(tmp_path / "w")],
        [str(tmp_path / "r1"), {"path": str(tmp_path / "r0"), "name": "calib"}],
        identifier="step1",
    )
    data = state.json()
    assert data["state_type"] == "localfs" and data["identifier"] == "step1"
    assert data["readwrite"] == [{"path": str(tmp_path / "w"), "name": "workdir"}]
    assert {"path": str(tmp_path / "r1"), "name": "readdir0"} in data["readonly"]
    assert {"path": str(tmp_path / "r0"), "name": "calib"} in data["readonly"]
    again = load_state(json.loads(json.dumps(data)))
    assert again == state and again.json() == data


def test_contextualize_parameters(tmp_path: Path) -> None:
    state = LocalFSState([str(tmp_path / "w")], [str(tmp_path / "in")])
    params = state.model(
        create(
            {
                "out": "{workdir}/o.txt",
                "in": "{readdir0}/x",
                "n": 3,
                "odd": "{notadir} {0}",
                "list": ["{workdir}/a", 1],
            }
        )
    )
    assert params["out"] == f"{tmp_path}/w/o.txt"
    assert params["in"] == f"{tmp_path}/in/x"
    assert params["n"] == 3 and params["odd"] == "{notadir} {0}"
    assert params["list"] == [f"{tmp_path}/w/a", 1]


def test_dependencies_become_readonly(tmp_path: Path) -> None:
    upstream = LocalFSState([str(tmp_path / "up")])
    state = LocalFSState([str(tmp_path / "down")], dependencies=[upstream])
    assert state.readonly == [str(tmp_path / "up")]


def test_ensure_reset_and_hash(tmp_path: Path) -> None:
    state = LocalFSState([str(tmp_path / "w")])
    state.ensure()
    assert Path(state.metadir).is_dir()
    empty = state.state_hash()
    (tmp_path / "w" / "f.txt").write_text("one")
    one = state.state_hash()
    (tmp_path / "w" / "f.txt").write_text("two")
    assert len({empty, one, state.state_hash()}) == 3
    state.reset()
    assert list((tmp_path / "w").iterdir()) == [tmp_path / "w" / "_packtivity"]
    assert state.state_hash() != one


def test_bad_state_input() -> None:
    with pytest.raises(TypeError):
        LocalFSState("not-a-list")  # type: ignore[arg-type]
    with pytest.raises(StateError, match="unknown state type 'nope'"):
        load_state({"state_type": "nope"})
    with pytest.raises(StateError, match="state_type"):
        load_state({"readwrite": []})


def test_state_provider_from_env(monkeypatch, tmp_path: Path) -> None:
    module = tmp_path / "mystates.py"
    module.write_text("def load_state(data):\n    return ('custom', data['x'])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PACKTIVITY_STATEPROVIDER", "mystates")
    assert load_state({"x": 5}) == ("custom", 5)
