"""The JSON task a worker pool runs: one packtivity, in, and its published result, out.

``encode`` is called where the step is submitted; ``run`` where a worker picks it up.  The task
is plain JSON (no pickles), so any worker with packtivity installed can run it, and the broker
or controller holds nothing that depends on the submitter's Python objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..statecontexts import load_state
from ..syncbackends import ExecutionConfig, packconfig, run_packtivity

if TYPE_CHECKING:
    from ..protocol import State


def encode(
    spec: dict[str, Any],
    parameters: Any,
    state: Optional[State],
    metadata: Optional[dict[str, Any]],
    exec_config: ExecutionConfig,
    pack_config: packconfig,
) -> dict[str, Any]:
    """The task of one step: JSON-serialisable, self-contained."""
    return {
        "spec": spec,
        "parameters": parameters.json() if hasattr(parameters, "json") else parameters,
        "state": state.json() if state is not None else None,
        "metadata": metadata or {"name": "packtivity"},
        "config": {**pack_config.handler_selection, "exec": exec_config.config},
    }


def run(task: dict[str, Any]) -> Any:
    """Run the step of a task here and return its published result as JSON.

    Raises what :func:`~packtivity.syncbackends.run_packtivity` raises (a failing step raises
    :class:`~packtivity.errors.StepFailed` with its exit code and the tail of its output).
    """
    config = dict(task.get("config") or {})
    exec_config = ExecutionConfig(config.pop("exec", None))
    state = load_state(task["state"]) if task.get("state") is not None else None
    result = run_packtivity(
        task["spec"], task["parameters"], state, task["metadata"], packconfig(**config), exec_config
    )
    return result.json()
