"""Publishers: turn parameters and the files a step produced into the step's JSON result.

Glob results are sorted.  ``**`` matches any number of directories.  Where a publisher can be
evaluated before the step runs (see :func:`packtivity.syncbackends.prepublish`), it returns
exactly what it returns after the run: no result depends on whether a file exists yet, except
through an explicit ``glob``.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import click

from ..errors import StepFailed
from ..hosts import Host, local_host
from ..interpolation import interpolate
from ..utils import handler_decorator, leaf_iterator

handlers, publisher = handler_decorator()


def host_of(state: Any) -> Host:
    """The machine a state's directories are on (this one unless a backend bound another)."""
    return getattr(state, "host", None) or local_host()


def sorted_glob(pattern: str, state: Any = None) -> list[str]:
    return host_of(state).glob(pattern)


@publisher("frompar-pub")
def process_attr_pub_handler(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
    """Each leaf of ``outputmap`` names a parameter whose value is published there."""
    outputs = copy.deepcopy(publisher_spec["outputmap"])
    for pointer, name in leaf_iterator(publisher_spec["outputmap"]):
        try:
            value = parameters[name]
        except (KeyError, IndexError, TypeError):
            raise StepFailed(
                f"frompar-pub: outputmap refers to parameter '{name}' which was not given"
            ) from None
        if pointer.path == "":
            return value
        pointer.set(outputs, value)
    return outputs


@publisher("interpolated-pub")
def interpolated_pub_handler(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
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
def fromyaml_pub_handler(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
    """Publish the content of a YAML file in the work directory."""
    import yaml

    path = os.path.join(state.readwrite[0], publisher_spec["yamlfile"])
    try:
        return yaml.safe_load(host_of(state).read_text(path))
    except OSError as error:
        reason = error.strerror or str(error)
        raise StepFailed(f"fromyaml-pub: cannot read '{path}': {reason}") from None
    except yaml.YAMLError as error:
        raise StepFailed(f"fromyaml-pub: '{path}' is not valid YAML: {error}") from None


@publisher("fromparjq-pub")
def fromparjq_pub(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
    """A jq script over the parameters; string leaves may be resolved against the work dir.

    With ``relative_paths``, relative string leaves are joined to the work directory.  With
    ``glob``, each leaf is globbed (a list of sorted matches replaces it when there are any),
    except that with ``tryExact`` an existing exact path is kept as it is.  Without ``glob``
    the result does not depend on which files exist, so prepublishing gives the same result.
    """
    result = parameters.jq(publisher_spec.get("script", "."))
    if not state:
        return result
    if state.readwrite:
        globdir = state.readwrite[0]
    elif len(state.readonly) == 1:
        globdir = state.readonly[0]
    else:
        return result
    for pointer, value in list(result.leafs()):
        if not isinstance(value, str):
            continue
        searchval = value
        if publisher_spec.get("relative_paths") and not os.path.isabs(searchval):
            searchval = os.path.join(globdir, value)
        newvalue: Any = searchval
        if publisher_spec.get("glob") and not (
            publisher_spec.get("tryExact", True) and host_of(state).exists(searchval)
        ):
            globbed = sorted_glob(searchval, state)
            newvalue = globbed if globbed else searchval
        if newvalue != value:
            result.replace(pointer, newvalue)
    return result


@publisher("fromglob-pub")
def glob_pub_handler(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
    """``{outputkey: sorted matches of globexpression in the work directory}``."""
    workdir = state.readwrite[0]
    return {
        publisher_spec["outputkey"]: sorted_glob(
            os.path.join(workdir, publisher_spec["globexpression"]), state
        )
    }


@publisher("constant-pub")
def dummy_pub_handler(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
    return copy.deepcopy(publisher_spec["publish"])


@publisher("manual-instructions-pub")
@publisher("manual-publishing")
def manual_pub(publisher_spec: dict[str, Any], parameters: Any, state: Any) -> Any:
    """Ask a person for the result JSON on the terminal."""
    import yaml

    click.secho(publisher_spec["instructions"], fg="magenta")
    while True:
        try:
            data = json.loads(input("Enter JSON data to publish: "))
        except json.JSONDecodeError:
            click.secho("that is not valid JSON, please try again", fg="red")
            continue
        answer = input(f"got:\n{yaml.safe_dump(data, default_flow_style=False)}\npublish? (y/N) ")
        if answer.lower() == "y":
            click.secho("publishing", fg="green")
            return data
