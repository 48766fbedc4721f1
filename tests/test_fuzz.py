"""Property-based fuzz tests of the CLIs and the public API (issue 18), with ``hypothesis``.

Every generated input must end in one of: success; a failed step; or one of this package's
errors (:class:`~packtivity.errors.PacktivityError`: one line, exit 2 or the documented code)
-- never a plain ``KeyError``/``TypeError``/..., never ``Error: unexpected`` from a CLI, never
a half-written output file.

``./dev test`` runs them derandomized (a fixed seed: the same examples every run, so CI is
reproducible); ``./dev fuzz`` runs the ``fuzz`` profile: new random examples, many more of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packtivity.errors import PacktivityError

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("PACKTIVITY_FUZZ_PROFILE", "ci"))

BIN = Path(sys.executable).parent

# ---- generators ----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["{workdir}", "{x}", "{0}", "{x[y]}", "{", "}", "$ref", "../..", "~", "*"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=25,
)

VALID_SPEC: dict[str, Any] = {
    "process": {"process_type": "string-interpolated-cmd", "cmd": "echo {x} > out.txt"},
    "environment": {"environment_type": "localproc-env"},
    "publisher": {"publisher_type": "interpolated-pub", "publish": {"out": "{workdir}/out.txt"}},
}
SPEC_KEYS = {
    "process": ["process_type", "cmd", "script", "interpreter"],
    "environment": ["environment_type", "image", "imagetag", "resources", "par_mounts", "env"],
    "publisher": ["publisher_type", "publish", "outputmap", "script", "glob", "tryExact"],
}
TYPE_NAMES = [
    "string-interpolated-cmd", "interpolated-script-cmd", "localproc-env", "docker-encapsulated",
    "noop-env", "manual-env", "interpolated-pub", "frompar-pub", "fromparjq-pub", "constant-pub",
    "fromglob-pub", "fromyaml-pub", "nonsense",
]  # fmt: skip


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    """A valid spec with some parts replaced by anything, or anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    spec = json.loads(json.dumps(VALID_SPEC))
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.sampled_from(sorted(SPEC_KEYS)))
        if draw(st.booleans()):
            spec[part] = draw(json_values)
        elif isinstance(spec.get(part), dict):
            key = draw(st.sampled_from(SPEC_KEYS[part]))
            value = draw(st.one_of(json_values, st.sampled_from(TYPE_NAMES)))
            spec[part][key] = value
    return spec


def _is_ours(error: BaseException) -> bool:
    return isinstance(error, PacktivityError)


# ---- the public API ------------------------------------------------------------------------


@given(spec=mutated_specs(), validate=st.booleans())
def test_load_spec_gives_a_spec_or_our_error(tmp_path: Path, spec: Any, validate: bool) -> None:
    from packtivity.spec import load_spec

    (tmp_path / "s.yml").write_text(yaml.safe_dump(spec))
    try:
        loaded = load_spec("s.yml", str(tmp_path), validate=validate)
    except Exception as error:  # noqa: BLE001 - the classification is the test
        assert _is_ours(error), repr(error)
    else:
        assert isinstance(loaded, dict)


@given(text=st.text(max_size=200))
def test_parameters_from_the_command_line(text: str) -> None:
    from packtivity.inputs import parse_parameter

    try:
        name, value = parse_parameter(text)
    except Exception as error:  # noqa: BLE001
        assert _is_ours(error), repr(error)
    else:
        json.dumps(value)  # a JSON value, whatever YAML made of it
        assert name == name.strip() and name


@given(parameters=json_values, publisher=st.sampled_from([
    {"publisher_type": "interpolated-pub", "publish": {"a": "{x}", "b": "{workdir}/f"}},
    {"publisher_type": "frompar-pub", "outputmap": {"a": "x"}},
    {"publisher_type": "constant-pub", "publish": {"a": 1}},
    {"publisher_type": "fromparjq-pub", "script": ".", "tryExact": True, "glob": False},
    {"publisher_type": "fromparjq-pub", "script": ".x | .y", "tryExact": True, "glob": True},
]))  # fmt: skip
def test_publishing_any_parameters(tmp_path: Path, parameters: Any, publisher: dict) -> None:
    """The publishers with any parameters: a result or our error."""
    from packtivity.statecontexts import LocalFSState
    from packtivity.syncbackends import finalize_inputs, packconfig, publish

    state = LocalFSState([str(tmp_path / "w")])
    try:
        result = publish(publisher, *finalize_inputs(parameters, state), packconfig())
    except Exception as error:  # noqa: BLE001
        assert _is_ours(error), repr(error)
    else:
        json.dumps(result.json())


@given(data=st.one_of(json_values, st.fixed_dictionaries(
    {"proxyname": st.sampled_from(["BatchProxy", "ForegroundProxy", "CeleryProxy",
                                   "IPClusterProxy", "ExternalAsyncProxy", "x"]),
     "proxydetails": json_values})))  # fmt: skip
def test_load_proxy_gives_a_proxy_or_our_error(data: Any) -> None:
    from packtivity.backendutils import load_proxy

    try:
        load_proxy(data, best_effort_backend=True)
    except Exception as error:  # noqa: BLE001
        assert _is_ours(error), repr(error)


@given(name=st.one_of(st.text(max_size=40), st.sampled_from([
    "multiproc:", "multiproc:0", "multiproc:-1", "multiproc:auto", "py:", "py:os", "py:os:path",
    "py:collections:OrderedDict", "slurm:x", "local:", "celery:", "fromenv", "foregroundasync",
])))  # fmt: skip
def test_backend_names(name: str) -> None:
    from packtivity.backendutils import backend_from_string

    try:
        backend_from_string(name)
    except Exception as error:  # noqa: BLE001
        assert _is_ours(error), repr(error)


@given(config=json_values)
def test_config_files(tmp_path: Path, config: Any) -> None:
    """Any config file content: the batch backend is made, or our error."""
    from packtivity.batch.backend import BatchBackend

    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    saved = os.environ.get("PACKTIVITY_CONFIG")
    os.environ["PACKTIVITY_CONFIG"] = str(path)
    try:
        BatchBackend("local")
    except Exception as error:  # noqa: BLE001
        assert _is_ours(error), repr(error)
    finally:
        if saved is None:
            del os.environ["PACKTIVITY_CONFIG"]
        else:
            os.environ["PACKTIVITY_CONFIG"] = saved


@given(
    variable=st.sampled_from(["PACKTIVITY_DRYRUN", "PACKTIVITY_LOGGING_HANDLER",
                              "PACKTIVITY_APPTAINER_CONTAIN", "PACKTIVITY_CONTAINER_RUNTIME"]),
    value=st.text(max_size=30),
)  # fmt: skip
def test_environment_variables(variable: str, value: str) -> None:
    from packtivity.syncbackends import ExecutionConfig

    if "\0" in value:
        return  # the environment cannot hold it
    saved = os.environ.get(variable)
    os.environ[variable] = value
    try:
        config = ExecutionConfig()
        config.dry_run()
        config.custom_logging_handler()
        config.container_config.contain()
        config.container_config.container_runtime()
    except Exception as error:  # noqa: BLE001
        assert _is_ours(error), repr(error)
    finally:
        if saved is None:
            del os.environ[variable]
        else:
            os.environ[variable] = saved


@given(entries=st.one_of(
    json_values,
    st.lists(json_values, max_size=4),
    st.fixed_dictionaries({"state_type": st.just("localfs")}, optional={
        "identifier": json_values, "readwrite": json_values, "readonly": json_values}),
))  # fmt: skip
def test_states(entries: Any) -> None:
    from packtivity.statecontexts import LocalFSState, load_state

    for make in (lambda: LocalFSState(entries), lambda: load_state(entries)):
        try:
            make()
        except Exception as error:  # noqa: BLE001
            assert _is_ours(error), repr(error)


# ---- the command lines ---------------------------------------------------------------------

CLI_SETTINGS = settings(max_examples=int(os.environ.get("PACKTIVITY_FUZZ_CLI_EXAMPLES", "12")))


@CLI_SETTINGS
@given(content=st.one_of(st.binary(max_size=300), mutated_specs().map(yaml.safe_dump)),
       parameter=st.text(max_size=40))  # fmt: skip
def test_packtivity_run_classifies_every_input(
    tmp_path: Path, content: Any, parameter: str
) -> None:
    """packtivity-run with a fuzzed spec and parameter: exit 0, 1 (the step failed), 2 (one
    line) or 3; never 'unexpected', never a traceback; -o is valid JSON or absent."""
    if "\0" in parameter:
        return
    spec = tmp_path / "s.yml"
    spec.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = tmp_path / "result.json"
    result.unlink(missing_ok=True)
    done = subprocess.run(
        [str(BIN / "packtivity-run"), "-t", str(tmp_path), "s.yml", "-p", f"x={parameter}",
         "-w", str(tmp_path / "w"), "-o", str(result)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (0, 1, 2, 3), done.stderr
    assert "Error: unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    if done.returncode == 2:
        assert len([line for line in done.stderr.splitlines() if line.strip()]) >= 1
    if result.exists():
        json.loads(result.read_text())
    assert not list(tmp_path.glob(".result.json.*"))


@CLI_SETTINGS
@given(content=st.one_of(st.binary(max_size=300), json_values.map(json.dumps)))
def test_packtivity_checkproxy_classifies_every_proxy(tmp_path: Path, content: Any) -> None:
    proxy = tmp_path / "p.json"
    proxy.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = subprocess.run(
        [str(BIN / "packtivity-checkproxy"), str(proxy)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (0, 1, 2, 3), done.stderr
    assert "Error: unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("command", ["packtivity-validate"])
@CLI_SETTINGS
@given(content=st.binary(max_size=300))
def test_packtivity_validate_classifies_every_file(tmp_path: Path, command: str, content: bytes):
    (tmp_path / "s.yml").write_bytes(content)
    done = subprocess.run(
        [str(BIN / command), "-t", str(tmp_path), "s.yml"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Error: unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr
