"""Running packtivities through the Python API: every process, environment and publisher type,
and prepublishing that gives exactly the post-run result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import packtivity
from packtivity.errors import ContainerRuntimeError, ParameterError, StepFailed
from packtivity.statecontexts import LocalFSState
from packtivity.syncbackends import defaultsyncbackend, packconfig, prepublish, publish
from packtivity.utils import load_packtivity


def run(specs: Path, name: str, parameters: dict, workdir: Path, readonly: list | None = None):
    spec = load_packtivity(name, str(specs))
    state = LocalFSState([str(workdir)], readonly or [])
    state.ensure()
    backend = defaultsyncbackend()
    before = backend.prepublish(spec, parameters, state)
    result = packtivity.pack_object(spec)(parameters, state)
    return before, result


def test_command_process(specs: Path, workdir: Path) -> None:
    before, result = run(
        specs, "cmd.yml", {"message": "hi there", "outputfile": "{workdir}/o.txt"}, workdir
    )
    assert (workdir / "o.txt").read_text() == "hi there\n"
    assert result.json() == {"output": f"{workdir}/o.txt"}
    assert before.json() == result.json()


def test_script_process_with_interpreter_arguments(specs: Path, workdir: Path) -> None:
    before, result = run(
        specs, "script.yml", {"words": ["a", "b", "c"], "outputfile": "{workdir}/c.json"}, workdir
    )
    assert json.loads((workdir / "c.json").read_text()) == {"count": 3}
    assert result.json() == {"counts": f"{workdir}/c.json"} == before.json()
    (logfile,) = (workdir / "_packtivity").glob("packtivity_syncbackend-*.run.log")
    log = logfile.read_text()
    assert "wrote 3 words" in log


def test_step_failure_carries_exit_code_and_log_tail(specs: Path, workdir: Path) -> None:
    with pytest.raises(StepFailed) as info:
        run(specs, "fail.yml", {"code": 3}, workdir)
    assert info.value.returncode == 3
    assert "exit code 3" in str(info.value)
    assert "bad things" in str(info.value) and "about to fail" in info.value.log_tail


def test_missing_parameter_is_named_before_running(specs: Path, workdir: Path) -> None:
    spec = load_packtivity("cmd.yml", str(specs))
    state = LocalFSState([str(workdir)])
    with pytest.raises(ParameterError) as info:
        packtivity.pack_object(spec)({"outputfile": "{workdir}/o"}, state)
    assert "'{message}'" in str(info.value) and "parameters: outputfile" in str(info.value)
    assert not (workdir / "o").exists()


def test_noop_env_runs_nothing(specs: Path, workdir: Path) -> None:
    _, result = run(specs, "noop.yml", {"target": "{workdir}/should-not-exist"}, workdir)
    assert result.json() == {"ran": False}
    assert not (workdir / "should-not-exist").exists()
    (steplog,) = (workdir / "_packtivity").glob("packtivity_syncbackend-*.step.log")
    assert "would be running" in steplog.read_text()


def test_pure_publishing_step(specs: Path, workdir: Path) -> None:
    before, result = run(specs, "purepub.yml", {"a": 1, "b": [2, 3]}, workdir)
    assert result.json() == {"first": 1, "nested": {"second": [2, 3]}} == before.json()


def test_manual_instructions(specs: Path, workdir: Path, capsys) -> None:
    _, result = run(specs, "manual.yml", {"x": 1}, workdir)
    out = capsys.readouterr().out
    assert "Please do the thing by hand." in out and "Use the lab machine." in out
    assert result.json() == {"manual": True}


def test_container_step_without_runtime_names_what_to_install(
    specs: Path, workdir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ContainerRuntimeError, match="'apptainer' is not on the PATH.*install"):
        run(specs, "docker.yml", {}, workdir)


def test_container_image_missing_with_pulls_off_is_clear(
    specs: Path, workdir: Path, tmp_path: Path, monkeypatch
) -> None:
    """The image is looked up before anything runs, so the ``apptainer`` on PATH here is an
    empty stand-in (never executed): this runs on machines without Apptainer too."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "apptainer").write_text("#!/bin/sh\nexit 99\n")
    (bindir / "apptainer").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    with pytest.raises(ContainerRuntimeError, match="busybox:1.36 is not in the cache.*NOPULL"):
        run(specs, "docker.yml", {}, workdir)


def test_fromglob_sorted_recursive(specs: Path, workdir: Path) -> None:
    _, result = run(specs, "steps.yml#/glob", {"base": "{workdir}"}, workdir)
    assert result.json() == {
        "files": [f"{workdir}/a/b/x.txt", f"{workdir}/a/y.txt", f"{workdir}/z.txt"]
    }


def test_fromyaml(specs: Path, workdir: Path) -> None:
    _, result = run(specs, "steps.yml#/yaml", {"base": "{workdir}"}, workdir)
    assert result.json() == {"answer": 42, "items": [1, 2]}


def _publish(pub: dict, params: dict, workdir: Path):
    state = LocalFSState([str(workdir)])
    from packtivity.syncbackends import finalize_inputs

    parameters, state = finalize_inputs(params, state)
    return publish(pub, parameters, state, packconfig()).json()


def test_interpolated_pub_glob_and_relative(workdir: Path) -> None:
    for name in ("b.root", "a.root", "c.txt"):
        (workdir / name).write_text("")
    pub = {
        "publisher_type": "interpolated-pub",
        "glob": True,
        "relative_paths": True,
        "publish": {"roots": "*.{ext}", "none": "*.nothing", "n": 3},
    }
    assert _publish(pub, {"ext": "root"}, workdir) == {
        "roots": [f"{workdir}/a.root", f"{workdir}/b.root"],
        "none": "*.nothing",
        "n": 3,
    }
    pub = {
        "publisher_type": "interpolated-pub",
        "glob": False,
        "relative_paths": False,
        "publish": "{workdir}/{x}",
    }
    assert _publish(pub, {"x": "f"}, workdir) == f"{workdir}/f"


def test_fromparjq_pub(workdir: Path) -> None:
    (workdir / "exact.txt").write_text("")
    (workdir / "g1.dat").write_text("")
    (workdir / "g2.dat").write_text("")
    pub = {
        "publisher_type": "fromparjq-pub",
        "script": "{files: [.a, .b], n: .n}",
        "tryExact": True,
        "glob": True,
        "relative_paths": True,
    }
    assert _publish(pub, {"a": "exact.txt", "b": "g*.dat", "n": 1}, workdir) == {
        "files": [f"{workdir}/exact.txt", [f"{workdir}/g1.dat", f"{workdir}/g2.dat"]],
        "n": 1,
    }


def test_fromparjq_pub_keeps_values_that_name_no_file(workdir: Path) -> None:
    """As the original: with relative_paths + tryExact (yadage's init step) a leaf becomes a
    path only when that file exists; strings, URLs and globs that match nothing stay as given.
    Before the fix every relative string was joined to the work directory ('/.../init/value')."""
    (workdir / "data.root").write_text("")
    pub = {
        "publisher_type": "fromparjq-pub",
        "script": ".",
        "tryExact": True,
        "glob": False,
        "relative_paths": True,
    }
    params = {
        "par": "value",
        "url": "https://example.org/f.root",
        "xrootd": "root://eospublic.cern.ch//eos/f.root",
        "local": "data.root",
        "absolute": "/nonexistent/x",
        "n": 3,
    }
    assert _publish(pub, params, workdir) == {**params, "local": f"{workdir}/data.root"}
    # glob: matches replace the leaf; no match keeps the value as given, not the joined path
    pub.update(glob=True, tryExact=False)
    assert _publish(pub, {"g": "*.root", "none": "*.txt"}, workdir) == {
        "g": [f"{workdir}/data.root"],
        "none": "*.txt",
    }


@pytest.mark.parametrize("relative_paths", [True, False])
def test_prepublish_never_differs_from_postrun(workdir: Path, relative_paths: bool) -> None:
    """A step that creates the file it publishes: the original prepublished 'out.txt' and
    published '/abs/out.txt' after the run (tryExact), and yadage stops a workflow when the two
    differ.  Prepublishing now declines while a leaf could still become a path."""
    spec = {
        "process": {"process_type": "string-interpolated-cmd", "cmd": "touch {dir}/{name}"},
        "environment": {"environment_type": "localproc-env"},
        "publisher": {
            "publisher_type": "fromparjq-pub",
            "script": "{out: .name, url: .url}",
            "tryExact": True,
            "glob": False,
            "relative_paths": relative_paths,
        },
    }
    state = LocalFSState([str(workdir)])
    params = {"name": "out.txt", "dir": "{workdir}", "url": "https://example.org/x"}
    before = prepublish(spec, params, state, packconfig())
    after = packtivity.pack_object(spec)(params, state).json()
    assert before is None
    expected_out = f"{workdir}/out.txt" if relative_paths else "out.txt"
    assert after == {"out": expected_out, "url": "https://example.org/x"}
    # run again: out.txt exists now, but the URL still names no file the step could not create
    assert prepublish(spec, params, state, packconfig()) is None
    spec["publisher"]["script"] = "{out: .name}"
    again = prepublish(spec, params, state, packconfig())
    if relative_paths:
        assert again is not None and again.json() == {"out": f"{workdir}/out.txt"}


def test_prepublish_of_a_pure_publishing_step_is_its_result(workdir: Path) -> None:
    """yadage's init step (no process): nothing will be written, so the result is known now,
    with strings and URLs as given."""
    spec = {
        "process": None,
        "environment": None,
        "publisher": {
            "publisher_type": "fromparjq-pub",
            "script": ".",
            "tryExact": True,
            "glob": False,
            "relative_paths": True,
        },
    }
    params = {"par": "value", "url": "https://example.org/f.root"}
    before = prepublish(spec, params, LocalFSState([str(workdir)]), packconfig())
    assert before is not None and before.json() == params


def test_prepublish_refuses_when_glob_needed(workdir: Path) -> None:
    spec = {
        "process": None,
        "environment": None,
        "publisher": {
            "publisher_type": "interpolated-pub",
            "glob": True,
            "relative_paths": True,
            "publish": "*",
        },
    }
    assert prepublish(spec, {}, LocalFSState([str(workdir)]), packconfig()) is None
    spec["publisher"] = {"publisher_type": "fromglob-pub", "globexpression": "*", "outputkey": "k"}
    assert prepublish(spec, {}, LocalFSState([str(workdir)]), packconfig()) is None


def test_errors_are_what_the_original_raised(tmp_path: Path, workdir: Path) -> None:
    """yadage, REANA and the original's tests catch the original's exception types: a failed
    step and an unknown backend are RuntimeError, an invalid spec a jsonschema ValidationError,
    an unknown state type a TypeError, a template naming a missing parameter a KeyError.  The
    messages stay packtivity's one line; the errors still pickle (multiproc)."""
    import pickle

    import jsonschema

    from packtivity.backendutils import backend_from_string
    from packtivity.errors import BackendError, SpecError, StateError
    from packtivity.statecontexts import load_state

    failing = {
        "process": {"process_type": "string-interpolated-cmd", "cmd": "exit 3"},
        "environment": {"environment_type": "localproc-env"},
        "publisher": {"publisher_type": "constant-pub", "publish": {}},
    }
    with pytest.raises(RuntimeError) as failed:
        packtivity.pack_object(failing)({}, LocalFSState([str(workdir)]))
    assert isinstance(failed.value, StepFailed) and "exit code 3" in str(failed.value)

    with pytest.raises(RuntimeError) as unknown:
        backend_from_string("nosuchbackend")
    assert isinstance(unknown.value, BackendError)

    (tmp_path / "bad.yml").write_text("process: {process_type: string-interpolated-cmd}\n")
    with pytest.raises(jsonschema.ValidationError) as invalid:
        load_packtivity("bad.yml", toplevel=str(tmp_path))
    assert isinstance(invalid.value, SpecError) and str(invalid.value).count("\n") == 0
    assert str(pickle.loads(pickle.dumps(invalid.value))) == str(invalid.value)

    with pytest.raises(TypeError) as state_error:
        load_state({"state_type": "nosuchstate"})
    assert isinstance(state_error.value, StateError)

    missing = dict(failing, process={"process_type": "string-interpolated-cmd", "cmd": "{x}"})
    with pytest.raises(KeyError) as key_error:
        packtivity.pack_object(missing)({}, LocalFSState([str(workdir)]))
    assert isinstance(key_error.value, ParameterError) and "'{x}'" in str(key_error.value)
