"""Executors: run a job in its environment, on this machine, now.

Every executor takes ``(exec_config, environment, state, job, metadata)``; it returns nothing
and raises :class:`~packtivity.errors.StepFailed` when the job fails.  The job's output goes to
the terminal and to ``<workdir>/_packtivity/<name>.run.log``.
"""

from __future__ import annotations

import os
from typing import Any

import click
import yaml

from .. import logutils
from ..errors import ContainerRuntimeError, StepFailed
from ..teeprocess import run_teed
from ..utils import handler_decorator

handlers, executor = handler_decorator()


def job_argv(job: dict[str, Any]) -> tuple[list[str], str | None]:
    """The argv and stdin text that run a job on a POSIX shell.

    A command runs as ``sh -c COMMAND``; a script is fed on stdin to ``sh -c INTERPRETER``
    (so an interpreter may carry arguments, e.g. ``python3 -u``).
    """
    if "command" in job:
        return ["sh", "-c", str(job["command"])], None
    if "script" in job:
        return ["sh", "-c", str(job.get("interpreter", "sh"))], str(job["script"])
    raise StepFailed(f"do not know how to run job {job!r:.200}")


def describe_job(job: dict[str, Any]) -> str:
    if "command" in job:
        return f"command: {job['command']}"
    return f"script for '{job.get('interpreter', 'sh')}':\n{job.get('script', '')}"


@executor("localproc-env")
def localproc_env(
    exec_config: Any,
    environment: dict[str, Any],
    state: Any,
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Run a command or a script on the host, in the step's work directory."""
    with logutils.setup_logging_topic(
        exec_config, metadata, state, "step", return_logger=True
    ) as log:
        assert log is not None
        workdir = state.readwrite[0] if state and state.readwrite else os.getcwd()
        os.makedirs(workdir, exist_ok=True)
        argv, stdin_text = job_argv(job)
        log.info("running in %s: %s", workdir, describe_job(job))
        if exec_config.dry_run():
            log.info("dry run: not running %s", argv)
            return
        logfile = logutils.topic_logfile(state, metadata, "run")
        try:
            result = run_teed(argv, stdin_text=stdin_text, cwd=workdir, logfile=logfile)
        except OSError as error:
            raise StepFailed(f"step '{metadata['name']}' could not start: {error}") from None
        if result.returncode != 0:
            log.error("step failed with exit code %s", result.returncode)
            raise StepFailed(
                f"step '{metadata['name']}' failed with exit code {result.returncode}"
                + (f" (log: {logfile})" if logfile else ""),
                returncode=result.returncode,
                log_tail=result.tail,
            )
        log.info("step finished with exit code 0")


@executor("noop-env")
def noop_env(
    exec_config: Any,
    environment: dict[str, Any],
    state: Any,
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Run nothing; log what would have run."""
    with logutils.setup_logging_topic(
        exec_config, metadata, state, "step", return_logger=True
    ) as log:
        assert log is not None
        log.info("state is: %s", state)
        log.info("noop-env: would be running %s", describe_job(job))


@executor("manual-instructions-env")
@executor("manual-env")
def manual_env(
    exec_config: Any,
    environment: dict[str, Any],
    state: Any,
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Show the instructions and the state for a person to act on."""
    click.secho(environment["instructions"], fg="blue")
    click.secho(
        yaml.safe_dump(state.json() if state else None, default_flow_style=False), fg="cyan"
    )


@executor("docker-encapsulated")
def docker_enc_handler(
    exec_config: Any,
    environment: dict[str, Any],
    state: Any,
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Container steps need a container runtime (Apptainer); none is wired in yet."""
    raise ContainerRuntimeError(
        f"no container runtime: step '{metadata['name']}' needs image "
        f"'{environment['image']}:{environment.get('imagetag', 'latest')}' and this packtivity "
        "has no container runtime configured"
    )
