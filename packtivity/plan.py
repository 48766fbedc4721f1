"""Planning a step: spec + parameters + state → the job body that runs it on its host.

One plan for every way a step runs: the local executors (``handlers/execution_handlers.py``)
run the body here and now, the batch backends (``batch/``) submit the same body.  Planning
resolves (and when needed pulls) the container image on the step's host and writes nothing
else; it never imports ``batch`` or ``pools``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from . import logutils
from .errors import BadInput, ContainerRuntimeError, StateError, StepFailed
from .hosts import Host, local_host
from .jobscript import ImageInfo, JobBody, host_job_body, job_argv, job_paths

if TYPE_CHECKING:
    from .protocol import State

#: environments whose process runs as a job body (the others: noop, manual instructions)
JOB_ENVIRONMENTS = ("localproc-env", "docker-encapsulated")


def runs_a_job(spec: Any) -> bool:
    """Whether a spec has anything to run (not a pure publishing, noop or manual step)."""
    environment = spec.get("environment") or {}
    return bool(spec.get("process")) and environment.get("environment_type") in JOB_ENVIRONMENTS


def workdir_of(state: Optional[State]) -> str:
    """Where the step's command runs: the state's first read-write directory (a path on the
    step's host, resolved there), or this process's directory for a step without state."""
    return state.readwrite[0] if state and state.readwrite else os.getcwd()


def metadir_of(state: Optional[State], metadata: dict[str, Any]) -> str:
    """The state's meta directory, where the job body and its run record go; a step planned
    to run elsewhere needs one."""
    metadir = state.metadir if state is not None else None
    if not metadir:
        raise StateError(f"step '{metadata['name']}' needs a read-write directory for its job body")
    return metadir


def plan_step(
    spec: Any,
    parameters: Any,
    state: Optional[State],
    metadata: dict[str, Any],
    pack_config: Any,
    exec_config: Any,
    host: Host,
    *,
    job_id_variable: Optional[str] = None,
) -> JobBody:
    """The job body of a step that :func:`runs_a_job`, writing its output to the step's ``run``
    log (nobody watches a batch job's terminal).  ``job_id_variable`` names the variable that
    holds the batch job's id in the job's environment, for the run record."""
    from .syncbackends import build_env, build_job, finalize_inputs

    parameters, state = finalize_inputs(parameters, state)
    job = build_job(spec["process"], parameters, state, pack_config)
    environment = build_env(spec["environment"], parameters, state, pack_config)
    metadir = metadir_of(state, metadata)
    with logutils.setup_logging_topic(exec_config, metadata, state, "step", True) as steplog:
        assert steplog is not None
        body = job_body(exec_config, environment, state, job, metadata, metadir, steplog, host)
    return dataclasses.replace(
        body,
        logfile=logutils.topic_logfile(state, metadata, "run"),
        job_id_variable=job_id_variable,
    )


def job_body(
    exec_config: Any,
    environment: dict[str, Any],
    state: Optional[State],
    job: dict[str, Any],
    metadata: dict[str, Any],
    metadir: str,
    log: logging.Logger,
    host: Host,
) -> JobBody:
    """The job body of a built job in its built environment (one of :data:`JOB_ENVIRONMENTS`)."""
    kind = environment["environment_type"]
    if kind == "docker-encapsulated":
        return container_job_body(
            exec_config, environment, state, job, metadata, metadir, log, host
        )
    if kind == "localproc-env":
        return host_job_body(job, workdir_of(state), metadir, metadata["name"])
    raise StepFailed(f"step '{metadata['name']}': environment {kind!r} runs no job body")


def container_job_body(
    exec_config: Any,
    environment: dict[str, Any],
    state: Optional[State],
    job: dict[str, Any],
    metadata: dict[str, Any],
    metadir: str,
    log: logging.Logger,
    host: Optional[Host] = None,
) -> JobBody:
    """The job body of a docker-encapsulated step; pulls its image first when needed."""
    host = host or local_host()
    command, stdin_text = job_argv(job, str(environment.get("envscript") or ""))
    argv, image, files = container_command(
        exec_config, environment, state, command, metadata, metadir, log, host
    )
    script_path, record_path = job_paths(metadir, metadata["name"])
    return JobBody(
        step=metadata["name"],
        cwd=workdir_of(state),
        argv=argv,
        stdin=stdin_text,
        script_path=script_path,
        record_path=record_path,
        runtime=exec_config.container_config.container_runtime(),
        image=image,
        files=files,
    )


def container_command(
    exec_config: Any,
    environment: dict[str, Any],
    state: Optional[State],
    command: list[str],
    metadata: dict[str, Any],
    metadir: str,
    log: logging.Logger,
    host: Host,
) -> tuple[list[str], ImageInfo, dict[str, str]]:
    """``(argv, image, files)``: the runtime's command line that runs ``command`` in the step's
    container, the image it uses (pulled first when needed), and the files its binds need."""
    from .apptainer.command import exec_argv
    from .apptainer.images import resolve_image
    from .apptainer.mounts import plan_container

    settings = exec_config.container_config
    runtime = settings.container_runtime()
    dry_run = exec_config.dry_run()
    if not dry_run and host.which(runtime) is None:
        raise ContainerRuntimeError(
            f"step '{metadata['name']}' needs a container runtime and '{runtime}' is not on the "
            f"PATH of {host.name}: install Apptainer "
            "(https://apptainer.org/docs/admin/main/installation.html), or set "
            "PACKTIVITY_CONTAINER_RUNTIME=singularity where the cluster has Singularity"
        )
    image = resolve_image(
        environment,
        settings,
        host,
        log=log,
        logfile=logutils.topic_logfile(state, metadata, "pull"),
        dry_run=dry_run,
    )
    setup = plan_container(settings, environment, state, metadir, metadata["name"], host, log)
    argv = exec_argv(runtime, image.path, setup, contain=settings.contain(), command=command)
    return argv, image, setup.files


@dataclass(frozen=True)
class ShellPlan:
    """An interactive shell in a step's environment (``packtivity-util shell``)."""

    argv: list[str]  #: the shell, or the runtime's command line that opens it in the container
    cwd: str
    files: dict[str, str]  #: files its binds need (par_mounts), to write first
    in_container: bool


def shell_plan(
    spec: Any, parameters: Any, state: Optional[State], exec_config: Any, host: Host
) -> ShellPlan:
    """The shell of ``spec``'s environment, in its work directory: its container, with the same
    image, binds and variables as a run, or ``sh`` on the host.  Pulls the image when needed
    (in a dry run, only says so)."""
    from .handlers.environment_handlers import docker
    from .syncbackends import finalize_inputs

    environment = spec.get("environment") or {"environment_type": "localproc-env"}
    kind = environment["environment_type"]
    if kind not in JOB_ENVIRONMENTS:
        raise BadInput(f"packtivity-util shell has no shell for environment type {kind}")
    process = spec.get("process") or {}
    interpreter = (
        process.get("interpreter", "sh")
        if process.get("process_type") == "interpolated-script-cmd"
        else "sh"
    )
    workdir = workdir_of(state)
    if kind == "localproc-env":
        return ShellPlan(["sh", "-c", interpreter], workdir, {}, in_container=False)
    parameters, state = finalize_inputs(parameters, state)
    environment = docker(environment, parameters, state)
    envscript = environment.get("envscript") or ""
    command = ["sh", "-c", (f". {shlex.quote(envscript)} && " if envscript else "") + interpreter]
    argv, _, files = container_command(
        exec_config,
        environment,
        state,
        command,
        {"name": "shell"},
        metadir_of(state, {"name": "shell"}),
        logging.getLogger("packtivity.shell"),
        host,
    )
    return ShellPlan(argv, workdir, files, in_container=True)
