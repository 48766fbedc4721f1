"""Publishers: turn parameters and the files a step produced into the step's JSON result.

Glob results are sorted.  ``**`` matches any number of directories.  What each publisher
publishes is what the original packtivity published for the same spec, parameters and files
(yadage's workflows were written against it); :func:`packtivity.syncbackends.prepublish`
declines to publish early where the result could depend on files the step has yet to write.
"""

from __future__ import annotations

import copy
import json
import os
from typing import TYPE_CHECKING, Any, Optional

from ..errors import JqError, ParameterError, StateError, StepFailed
from ..hosts import Host, local_host
from ..interpolation import interpolate
from ..protocol import HostedState
from ..utils import handler_decorator, leaf_iterator, one_line, secho

if TYPE_CHECKING:
    from ..protocol import State

handlers, publisher = handler_decorator()


def host_of(state: Optional[State]) -> Host:
    """The machine a state's directories are on (this one unless a backend bound another)."""
    return state.host if isinstance(state, HostedState) else local_host()


def workdir_of(state: Optional[State], publisher_type: str) -> str:
    """The work directory a publisher reads; :class:`StateError` for a state without one."""
    if state is None or not state.readwrite:
        raise StateError(f"{publisher_type} reads the work directory, and the state has none")
    return state.readwrite[0]


def sorted_glob(pattern: str, state: Optional[State] = None) -> list[str]:
    return host_of(state).glob(pattern)


@publisher("frompar-pub")
def process_attr_pub_handler(
    publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> Any:
    """Each leaf of ``outputmap`` names a parameter whose value is published there."""
    outputs = copy.deepcopy(publisher_spec["outputmap"])
    for pointer, name in leaf_iterator(publisher_spec["outputmap"]):
        try:
            value = parameters[name]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ParameterError(
                f"frompar-pub: outputmap refers to parameter '{name}' which was not given"
            ) from None
        if pointer.path == "":
            return value
        pointer.set(outputs, value)
    return outputs


@publisher("interpolated-pub")
def interpolated_pub_handler(
    publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> Any:
    """String leaves are formatted with the parameters and ``{workdir}``; optionally globbed."""
    forinterp = parameters.copy().typed()
    workdir = state.readwrite[0] if state and state.readwrite else ""
    result = copy.deepcopy(publisher_spec["publish"])
    for pointer, value in leaf_iterator(publisher_spec["publish"]):
        if not isinstance(value, str):
            continue
        resultval: Any = interpolate(
            value, forinterp, "publisher template", {"workdir": workdir}, flatten_lists=False
        )
        globexpr = resultval
        if publisher_spec.get("relative_paths") and workdir and not os.path.isabs(globexpr):
            globexpr = os.path.join(workdir, resultval)
        if publisher_spec.get("glob"):
            globbed = sorted_glob(globexpr, state)
            if globbed:
                resultval = globbed
        else:
            resultval = globexpr
        if pointer.path == "":
            return resultval
        pointer.set(result, resultval)
    return result


@publisher("fromyaml-pub")
def fromyaml_pub_handler(
    publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> Any:
    """Publish the content of a YAML file in the work directory."""
    import yaml

    path = os.path.join(workdir_of(state, "fromyaml-pub"), publisher_spec["yamlfile"])
    try:
        return yaml.safe_load(host_of(state).read_text(path))
    except OSError as error:
        reason = error.strerror or str(error)
        raise StepFailed(f"fromyaml-pub: cannot read '{path}': {reason}") from None
    except yaml.YAMLError as error:
        raise StepFailed(f"fromyaml-pub: '{path}' is not valid YAML: {error}") from None


def _jq(publisher_spec: dict[str, Any], parameters: Any) -> Any:
    """The publisher's jq ``script`` over the parameters; a failing script is a JqError."""
    script = publisher_spec.get("script", ".")
    try:
        return parameters.jq(script)
    except ValueError as error:
        raise JqError(
            f"fromparjq-pub: jq script {script!r} failed on the parameters: {one_line(error)}"
        ) from None


def _fromparjq_base(state: Optional[State]) -> Optional[str]:
    """The directory fromparjq-pub resolves leaves against: the first read-write directory, or
    the only read-only one; None when there is no such directory (leaves are kept as they are)."""
    if not state:
        return None
    if state.readwrite:
        return str(state.readwrite[0])
    if state.readonly and len(state.readonly) == 1:
        return str(state.readonly[0])
    return None


def _fromparjq_candidate(publisher_spec: dict[str, Any], value: str, base: str) -> str:
    """The path a string leaf is tried as: joined to ``base`` with ``relative_paths``."""
    if publisher_spec.get("relative_paths") and not os.path.isabs(value):
        return os.path.join(base, value)
    return value


@publisher("fromparjq-pub")
def fromparjq_pub(publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]) -> Any:
    """A jq script over the parameters; string leaves may become paths, as in the original.

    Each string leaf is tried as a path (joined to the work directory with ``relative_paths``):
    with ``tryExact`` (the default) an existing path replaces the leaf; otherwise, with
    ``glob``, its sorted matches replace it when there are any.  A leaf that names no existing
    file -- a plain string, a URL, a number written as text -- is published unchanged.  So the
    result depends on which files exist; :func:`fromparjq_waits_for_files` tells prepublishing
    when a step could still create one.
    """
    result = _jq(publisher_spec, parameters)
    base = _fromparjq_base(state)
    if base is None:
        return result
    host = host_of(state)
    for pointer, value in list(result.leafs()):
        if not isinstance(value, str):
            continue
        candidate = _fromparjq_candidate(publisher_spec, value, base)
        newvalue: Any = value
        if publisher_spec.get("tryExact", True) and host.exists(candidate):
            newvalue = candidate
        elif publisher_spec.get("glob"):
            newvalue = sorted_glob(candidate, state) or value
        if newvalue != value:
            result.replace(pointer, newvalue)
    return result


def fromparjq_waits_for_files(
    publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> bool:
    """Whether a fromparjq-pub result could still change when the step writes files: a string
    leaf that ``tryExact`` or ``glob`` would resolve names no existing path yet."""
    if not (publisher_spec.get("tryExact", True) or publisher_spec.get("glob")):
        return False
    base = _fromparjq_base(state)
    if base is None:
        return False
    host = host_of(state)
    result = _jq(publisher_spec, parameters)
    return any(
        isinstance(value, str)
        and not host.exists(_fromparjq_candidate(publisher_spec, value, base))
        for _, value in result.leafs()
    )


@publisher("fromglob-pub")
def glob_pub_handler(
    publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> Any:
    """``{outputkey: sorted matches of globexpression in the work directory}``."""
    workdir = workdir_of(state, "fromglob-pub")
    return {
        publisher_spec["outputkey"]: sorted_glob(
            os.path.join(workdir, publisher_spec["globexpression"]), state
        )
    }


@publisher("constant-pub")
def dummy_pub_handler(
    publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> Any:
    return copy.deepcopy(publisher_spec["publish"])


@publisher("manual-instructions-pub")
@publisher("manual-publishing")
def manual_pub(publisher_spec: dict[str, Any], parameters: Any, state: Optional[State]) -> Any:
    """Ask a person for the result JSON on the terminal."""
    import yaml

    secho(publisher_spec["instructions"], fg="magenta")
    while True:
        try:
            data = json.loads(input("Enter JSON data to publish: "))
        except json.JSONDecodeError:
            secho("that is not valid JSON, please try again", fg="red")
            continue
        answer = input(f"got:\n{yaml.safe_dump(data, default_flow_style=False)}\npublish? (y/N) ")
        if answer.lower() == "y":
            secho("publishing", fg="green")
            return data
