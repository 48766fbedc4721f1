"""Running one packtivity in this process: spec + parameters + state -> result.

The pipeline, each step a function the original exposed under the same name:
``finalize_inputs`` (wrap and contextualise parameters) -> ``build_job`` (process template ->
job) -> ``build_env`` (environment template -> environment) -> ``run_in_env`` (execute) ->
``publish`` (result).  ``prepublish`` computes the result before running where it cannot
depend on what the step writes; it is then identical to what ``publish`` gives after the run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

from . import datamodel as _datamodel
from . import logutils
from .apptainer.settings import container_config
from .errors import BadInput

if TYPE_CHECKING:
    from .protocol import State


class packconfig:
    """Which implementation of each handler to use (``PACKTIVITY_SYNCCONFIGFILE`` overrides)."""

    def __init__(self, **kwargs: Any) -> None:
        self.handler_selection = kwargs
        fromenv = os.environ.get("PACKTIVITY_SYNCCONFIGFILE")
        if fromenv:
            from . import userfiles

            selection = userfiles.read_yaml(fromenv, "PACKTIVITY_SYNCCONFIGFILE file")
            for category, choices in selection.items():
                if not isinstance(choices, dict):
                    raise BadInput(
                        f"PACKTIVITY_SYNCCONFIGFILE file '{fromenv}': '{category}' must map "
                        "handler types to implementations"
                    )
            self.handler_selection.update(**selection)

    def get_impl(self, category: str, handler: str) -> str:
        try:
            return str(self.handler_selection[category][handler])
        except KeyError:
            return "default"


def _env_flag(value: str, name: str = "the variable") -> bool:
    """A YAML boolean from an environment variable, as the original read them ("yes", "1",
    "false"); :class:`BadInput` naming ``name`` for anything else."""
    from .userfiles import parse_yaml_value

    parsed = parse_yaml_value(value, name)
    if isinstance(parsed, bool) or parsed in (0, 1, None):
        return bool(parsed)
    raise BadInput(f"{name} must be true or false (yes/no, 1/0), not {value!r:.60}")


class ExecutionConfig:
    """Logging and dry-run settings of a backend (environment variables win)."""

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        self.config = config or {}
        self.container_config = container_config(self.config.get("containers"))

    def disable_logging(self) -> bool:
        if "PACKTIVITY_LOGGING_DISABLE" in os.environ:
            return _env_flag(os.environ["PACKTIVITY_LOGGING_DISABLE"])
        return not self.config.get("logging", True)

    def custom_logging_handler(self) -> Optional[str]:
        """``module:function`` of ``PACKTIVITY_LOGGING_HANDLER``, or None."""
        value = os.environ.get("PACKTIVITY_LOGGING_HANDLER")
        if value is not None and (value.count(":") != 1 or not all(value.split(":"))):
            raise BadInput(f"PACKTIVITY_LOGGING_HANDLER must be module:function, not {value!r:.60}")
        return value

    def stream_loglevel(self) -> str:
        if "PACKTIVITY_LOGGING_STREAM_LEVEL" in os.environ:
            return os.environ["PACKTIVITY_LOGGING_STREAM_LEVEL"]
        if "logging_level" in self.config:
            return str(self.config["logging_level"])
        # follow the application's logging (the CLI's -v; yadage's own set-up)
        import logging

        return logging.getLevelName(logging.getLogger().getEffectiveLevel())

    def dry_run(self) -> bool:
        if "PACKTIVITY_DRYRUN" in os.environ:
            return _env_flag(os.environ["PACKTIVITY_DRYRUN"] or "true", "PACKTIVITY_DRYRUN")
        return bool(self.config.get("dry_run", False))


def _handler(registry: dict[str, dict[str, Any]], kind: str, name: str, impl: str) -> Any:
    try:
        return registry[name][impl]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise BadInput(
            f"unknown {kind} type '{name}' (implementation '{impl}'); known: {known}"
        ) from None


def build_job(
    process: dict[str, Any], parameters: Any, state: Optional[State], pack_config: packconfig
) -> Any:
    """Turn a process template into a job with the process handler for its type."""
    from .handlers.process_handlers import handlers

    proc_type = process["process_type"]
    handler = _handler(handlers, "process", proc_type, pack_config.get_impl("process", proc_type))
    return handler(process, parameters, state)


def build_env(
    environment: dict[str, Any], parameters: Any, state: Optional[State], pack_config: packconfig
) -> Any:
    """Prepare an environment template for this run (the default handler passes it through)."""
    from .handlers.environment_handlers import handlers

    env_type = environment["environment_type"]
    impl = pack_config.get_impl("environment", env_type)
    handler = handlers.get(env_type, {}).get(impl) or handlers["default"]["default"]
    return handler(environment, parameters, state)


def run_in_env(
    job: Any,
    environment: dict[str, Any],
    state: Optional[State],
    metadata: dict[str, Any],
    pack_config: packconfig,
    exec_config: Optional[ExecutionConfig] = None,
) -> Any:
    """Execute a job in its environment, with the executor registered for the environment type."""
    from .handlers.execution_handlers import handlers

    env_type = environment["environment_type"]
    handler = _handler(
        handlers, "environment", env_type, pack_config.get_impl("executor", env_type)
    )
    return handler(exec_config or ExecutionConfig(), environment, state, job, metadata)


def publish(
    publisher: dict[str, Any],
    parameters: Any,
    state: Optional[State],
    pack_config: packconfig,
    datamodel: Any = _datamodel,
) -> Any:
    """Compute the result with the publisher registered for the publisher type."""
    from .handlers.publisher_handlers import handlers

    pub_type = publisher["publisher_type"]
    handler = _handler(handlers, "publisher", pub_type, pack_config.get_impl("publisher", pub_type))
    pubdata = handler(publisher, parameters, state)
    return datamodel.create(pubdata, state.datamodel if state else None)


def finalize_inputs(
    parameters: Any, state: Optional[State], datamodel: Any = _datamodel
) -> tuple[Any, Any]:
    """Wrap parameters in the data model and contextualise them with the state."""
    parameters = datamodel.create(parameters, state.datamodel if state else None)
    if not state:
        return parameters, state
    return state.model(parameters), state


def finalize_outputs(pubdata: Any) -> Any:
    return pubdata


def prepublish(
    spec: dict[str, Any], parameters: Any, state: Optional[State], pack_config: packconfig
) -> Any:
    """The result before the step runs, or None where it may depend on what the step writes.

    Whatever it returns is what :func:`publish` gives after the run (yadage stops a workflow
    whose prepublished and actual results differ).  ``frompar-pub`` and ``constant-pub`` always
    prepublish; ``interpolated-pub`` and ``fromparjq-pub`` as in the original (no glob needed,
    or no read-write directory to glob in), except that a ``fromparjq-pub`` leaf that would
    become a path once that file exists (``tryExact``) is not prepublished while a step that
    runs a process could still create it.  A pure publishing step writes nothing, so its
    result is known now.
    """
    from .handlers.publisher_handlers import fromparjq_waits_for_files
    from .statecontexts.posixfs_context import LocalFSState

    parameters, state = finalize_inputs(parameters, state)
    pub = spec["publisher"]
    pub_type = pub["publisher_type"]
    if pub_type in ("frompar-pub", "constant-pub"):
        return publish(pub, parameters, state, pack_config)
    if pub_type not in ("interpolated-pub", "fromparjq-pub"):
        return None
    if not state:
        return publish(pub, parameters, state, pack_config)
    if type(state) is not LocalFSState or (pub.get("glob", False) and state.readwrite):
        return None
    writes_files = bool(spec.get("process") and spec.get("environment"))
    if (
        pub_type == "fromparjq-pub"
        and writes_files
        and fromparjq_waits_for_files(pub, parameters, state)
    ):
        return None
    return publish(pub, parameters, state, pack_config)


def check_inputs(
    spec: dict[str, Any],
    parameters: Any,
    state: Optional[State],
    pack_config: packconfig,
    exec_config: Optional[ExecutionConfig] = None,
    host: Any = None,
) -> None:
    """Raise what running would raise about the inputs (a missing template parameter, an invalid
    image reference, an unknown container runtime, a broken image map) without running or
    printing anything.  Interactive (manual) processes are not checked."""
    from .logutils import check_custom_handler

    check_custom_handler(exec_config or ExecutionConfig())
    process = spec.get("process")
    if process and not process["process_type"].startswith("manual"):
        build_job(process, *finalize_inputs(parameters, state), pack_config)
    environment = spec.get("environment") or {}
    if environment.get("environment_type") == "docker-encapsulated":
        from .apptainer.images import image_reference, read_image_map
        from .hosts import local_host

        host = host or local_host()
        settings = (exec_config or ExecutionConfig()).container_config
        settings.container_runtime()
        image_reference(environment)
        settings.contain()
        image_map = settings.image_map(host)
        if image_map:
            read_image_map(image_map, host)


#: environments that show instructions even when the process yields no job
MANUAL_ENVIRONMENTS = ("manual-instructions-env", "manual-env")


def acquire_job_env(
    spec: dict[str, Any],
    parameters: Any,
    state: Optional[State],
    metadata: dict[str, Any],
    config: packconfig,
) -> tuple[Any, Any]:
    """The job and the environment of a spec, or ``(None, None)`` for a pure publishing step."""
    if spec["process"] and spec["environment"]:
        job = build_job(spec["process"], parameters, state, config)
        env = build_env(spec["environment"], parameters, state, config)
        return job, env
    return None, None


def run_packtivity(
    spec: dict[str, Any],
    parameters: Any,
    state: Optional[State],
    metadata: dict[str, Any],
    pack_config: packconfig,
    exec_config: Optional[ExecutionConfig] = None,
) -> Any:
    """Run one packtivity to completion in this process and return its published result.

    Its files are named ``<metadata name>-<run id>`` (see
    :func:`~packtivity.jobscript.with_run_id`).
    """
    from .jobscript import with_run_id

    metadata = with_run_id(metadata)
    exec_config = exec_config or ExecutionConfig()
    if state is not None and state.metadir:
        state.ensure()
    with logutils.setup_logging_topic(
        exec_config, metadata, state, "step", return_logger=True
    ) as log:
        assert log is not None
        parameters, state = finalize_inputs(parameters, state)
        job, env = acquire_job_env(spec, parameters, state, metadata, pack_config)
        if env and (job or env["environment_type"] in MANUAL_ENVIRONMENTS):
            run_in_env(job, env, state, metadata, pack_config, exec_config)
        pubdata = finalize_outputs(publish(spec["publisher"], parameters, state, pack_config))
        log.info("publishing data: %s", pubdata.json())
        return pubdata


class defaultsyncbackend:
    """Run packtivities synchronously in this process."""

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        config = dict(config or {})
        self.exec_config = ExecutionConfig(config.pop("exec", None))
        self.pack_config = packconfig(**config)

    def prepublish(self, spec: dict[str, Any], parameters: Any, state: Optional[State]) -> Any:
        return prepublish(spec, parameters, state, self.pack_config)

    def run(
        self,
        spec: dict[str, Any],
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> Any:
        return run_packtivity(
            spec,
            parameters,
            state,
            metadata or {"name": "packtivity_syncbackend"},
            self.pack_config,
            self.exec_config,
        )
