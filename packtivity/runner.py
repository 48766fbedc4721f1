"""The run policy of ``packtivity-run``: choose the backend, build the state on its host, check
every input before anything runs, then run, submit, or show what would be submitted.

Functions here return data; the CLI (``cli.py``) prints it.  Nothing here prints, except what
the step itself prints while it runs in the foreground.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .batch.resources import RESOURCE_FLAGS
from .errors import BadInput
from .protocol import Configured, RunsOnHost, SavesProxies, ShowsScript

if TYPE_CHECKING:
    from .protocol import Proxy, State

#: options of ``packtivity-run`` that only the batch backends take
BATCH_FLAGS = (
    *RESOURCE_FLAGS,
    "scheduler_option",
    "profile",
    "ssh",
    "accept_new_host_key",
    "queue_size",
    "submit_rate_limit",
    "retries",
)


@dataclass
class PreparedRun:
    """A step whose inputs were checked, with its backend chosen and its state on the
    backend's host; nothing has run or been written yet."""

    spec: dict[str, Any]
    parameters: dict[str, Any]
    state: State
    backend_name: str
    backend: Any
    is_sync: bool
    metadata: dict[str, Any]
    dry_run: bool

    @property
    def runs_in_container(self) -> bool:
        environment = self.spec.get("environment") or {}
        kind = environment.get("environment_type")
        return kind == "docker-encapsulated" and bool(self.spec.get("process"))


@dataclass
class RunOutcome:
    """What a run gave: a published ``result``, or a ``proxy`` to check later (``--async``), or
    ``script`` (``--show-script``, batch dry runs), or none of them (a dry run of a container
    step: nothing was pulled or run).  ``notes`` are for people (stderr), in order."""

    result: Any = None
    proxy: Optional[Proxy] = None
    script: Optional[str] = None
    notes: list[str] = field(default_factory=list)


def prepare(
    spec: dict[str, Any],
    parameters: dict[str, Any],
    state_options: tuple[str, tuple[str, ...], tuple[str, ...]],
    backend_name: str,
    batch_flags: dict[str, Any],
    metadata: dict[str, Any],
    *,
    asyncwait: bool = True,
    show_script: bool = False,
) -> PreparedRun:
    """Choose the backend and check everything a run would trip over, running nothing.

    ``state_options`` is ``(statefile, write, read)`` as given; the state is built once, on the
    backend's host.  Raises :class:`~packtivity.errors.BadInput` (one line) for bad input.
    """
    from .backendutils import backend_from_string
    from .batch import SCHEDULERS
    from .hosts import local_host
    from .inputs import make_state
    from .syncbackends import ExecutionConfig, check_inputs, packconfig

    is_batch = backend_name in SCHEDULERS
    if (batch_flags or show_script) and not is_batch:
        flags = ", ".join(
            "--" + name.replace("_", "-")
            for name in [*batch_flags, *(["show_script"] if show_script else [])]
        )
        raise BadInput(f"{flags}: only for the batch backends (-b slurm, pbs or local)")
    is_sync, backend = backend_from_string(backend_name, batch_flags)
    host = backend.host if isinstance(backend, RunsOnHost) else None
    state = make_state(*state_options, host=None if host is local_host() else host)
    pack_config, exec_config = (
        (backend.pack_config, backend.exec_config)
        if isinstance(backend, Configured)
        else (packconfig(), ExecutionConfig())
    )
    check_inputs(spec, parameters, state, pack_config, exec_config, host)
    saveable = backend.saveable_proxies if isinstance(backend, SavesProxies) else True
    if not is_sync and not asyncwait and not saveable:
        from .asyncbackends import UNSAVEABLE

        raise BadInput("--async: " + UNSAVEABLE.format(backend=backend_name))
    if is_batch:
        backend.resources(spec.get("environment"))  # bad resources: one line, nothing run
        if not show_script:
            backend.check_host()
    return PreparedRun(
        spec=spec,
        parameters=parameters,
        state=state,
        backend_name=backend_name,
        backend=backend,
        is_sync=is_sync,
        metadata=metadata,
        dry_run=ExecutionConfig().dry_run(),
    )


def shows_script_only(run: PreparedRun, show_script: bool) -> bool:
    """Whether this run only shows its scheduler script (``--show-script``, or a dry run of a
    backend that can show one)."""
    return show_script or (run.dry_run and isinstance(run.backend, ShowsScript))


def scheduler_script(run: PreparedRun, show_script: bool) -> RunOutcome:
    """The scheduler script and job body that would be submitted; nothing is submitted."""
    notes = []
    if not show_script:
        notes.append(f"dry run: nothing is submitted to {run.backend_name}; it would be:")
    if not isinstance(run.backend, ShowsScript):
        raise BadInput(f"--show-script: backend {run.backend_name} has no scheduler script")
    script = run.backend.show_script(run.spec, run.parameters, run.state, run.metadata)
    return RunOutcome(script=script, notes=notes)


def prepublish(run: PreparedRun) -> Optional[str]:
    """The note of the result known before the step runs (None when it is not known yet).
    The state's directories are created first."""
    import json

    run.state.ensure()
    prepublished = run.backend.prepublish(run.spec, run.parameters, run.state)
    if prepublished is None:
        return None
    return f"prepublished: {json.dumps(prepublished.json(), sort_keys=True)}"


def start(run: PreparedRun) -> RunOutcome:
    """Run the step (a sync backend), or submit it and return its proxy at once (an async one;
    the caller decides whether to wait).  Call :func:`prepublish` first: it creates the state's
    directories."""
    import packtivity

    pack = packtivity.pack_object(run.spec)
    if run.dry_run and run.runs_in_container:  # (a batch backend showed its script instead)
        # the command lines are printed, nothing is pulled or run: there is nothing to publish
        pack(run.parameters, run.state, metadata=run.metadata)
        note = (
            "dry run (PACKTIVITY_DRYRUN): the container step was not run and nothing was "
            "pulled, so no result is published"
        )
        return RunOutcome(notes=[note])
    if run.is_sync:
        result = pack(run.parameters, run.state, syncbackend=run.backend, metadata=run.metadata)
        return RunOutcome(result=result)
    proxy = pack(
        run.parameters, run.state, asyncbackend=run.backend, asyncwait=False, metadata=run.metadata
    )
    return RunOutcome(proxy=proxy)
