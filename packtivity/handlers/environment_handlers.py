"""Environment types: prepare an environment spec for one run (parameters and state known)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Optional

from ..errors import JqError
from ..utils import handler_decorator, one_line

if TYPE_CHECKING:
    from ..protocol import State

handlers, environment = handler_decorator()


@environment("docker-encapsulated")
def docker(
    environment_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> dict[str, Any]:
    """Render ``par_mounts`` (jq over the parameters) and contextualise ``workdir``."""
    import jq

    prepared = copy.deepcopy(environment_spec)
    jsonpars = parameters.json()
    for index, mount in enumerate(prepared.get("par_mounts", [])):
        script = mount.pop("jqscript")
        try:
            mount["mountcontent"] = jq.compile(script).input(jsonpars).text()
        except ValueError as error:
            raise JqError(
                f"par_mounts[{index}] (mountpath {mount.get('mountpath')}): jq script "
                f"{script!r} failed on the parameters: {one_line(error)}"
            ) from None
    if prepared.get("workdir") is not None and state is not None:
        prepared["workdir"] = state.contextualize_value(prepared["workdir"])
    return prepared


@environment("default")
def default(
    environment_spec: dict[str, Any], parameters: Any, state: Optional[State]
) -> dict[str, Any]:
    return environment_spec
