"""Executors: run a job in its environment, on this machine, now.

Every executor takes ``(exec_config, environment, state, job, metadata)``; it returns nothing
and raises :class:`~packtivity.errors.StepFailed` when the job fails.  Host and container steps
run through the job body (:mod:`packtivity.jobscript`): its output goes to the terminal and to
``<workdir>/_packtivity/<name>.run.log``, its run record to ``<name>.run.json`` beside it.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import click

from .. import logutils
from ..errors import StepFailed
from ..hosts import Host, local_host
from ..jobscript import JobBody, describe_job, write_job_body
from ..outcome import ENDED, SchedulerState, decide
from ..plan import job_body, workdir_of
from ..runrecord import RunRecord, read_run_record
from ..utils import handler_decorator, secho

if TYPE_CHECKING:
    from ..protocol import State

handlers, executor = handler_decorator()


@contextlib.contextmanager
def _metadir(state: Optional[State]) -> Iterator[str]:
    """The step's meta directory (``<workdir>/_packtivity``), or a temporary one without state."""
    metadir = state.metadir if state else None
    if metadir:
        local_host().make_dirs(metadir)
        yield metadir
        return
    with tempfile.TemporaryDirectory(prefix="packtivity-") as tmp:
        yield tmp


def run_job_body(
    body: JobBody, host: Host, log: logging.Logger, logfile: Optional[str], dry_run: bool
) -> Optional[RunRecord]:
    """Write the job body on ``host``, run it there now, and return its run record.

    Raises :class:`StepFailed` (with the command's exit code and the output's last lines) when
    the command failed or the body ended without a record.  A dry run prints the command line
    and returns None.
    """
    log.info("step command line: cd %s && %s", body.cwd, body.command_line)
    if dry_run:
        stdin = " (script on stdin)" if body.stdin is not None else ""
        click.echo(
            f"dry run: would run: cd {shlex.quote(body.cwd)} && {body.command_line}{stdin}",
            err=True,
        )
        return None
    write_job_body(body, host)
    try:
        result = host.run_streamed(["sh", body.script_path], logfile=logfile)
    except OSError as error:
        raise StepFailed(f"step '{body.step}' could not start: {error}") from None
    record = read_run_record(host, body.record_path)
    # this machine ran the body: it ended, with this exit code (the record says how)
    ended = SchedulerState(ENDED, native=f"exit code {result.returncode}")
    outcome = decide(f"step '{body.step}'", record, ended)
    if record is None or not outcome.succeeded:
        where = f" (log: {logfile})" if logfile else ""
        log.error("%s", outcome.message)
        raise StepFailed(
            outcome.message + where,
            returncode=outcome.exit_code or result.returncode or 1,
            log_tail=result.output,
        )
    log.info("step finished: %s", record.describe())
    return record


def _run_step(
    exec_config: Any,
    state: Optional[State],
    metadata: dict[str, Any],
    make_body: Callable[[str, logging.Logger], JobBody],
    dry_run: bool,
) -> None:
    """Build a step's job body with ``make_body(metadir, log)`` and run it here, now (or, in a
    dry run, print its command line)."""
    with logutils.setup_logging_topic(exec_config, metadata, state, "step", True) as log:
        assert log is not None
        with _metadir(state) as metadir:
            body = make_body(metadir, log)
            logfile = logutils.topic_logfile(state, metadata, "run")
            run_job_body(body, local_host(), log, logfile, dry_run)


@executor("localproc-env")
def localproc_env(
    exec_config: Any,
    environment: dict[str, Any],
    state: Optional[State],
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Run a command or a script on the host, in the step's work directory."""

    def make_body(metadir: str, log: logging.Logger) -> JobBody:
        workdir = workdir_of(state)
        local_host().make_dirs(workdir)
        log.info("running on the host in %s: %s", workdir, describe_job(job))
        return job_body(exec_config, environment, state, job, metadata, metadir, log, local_host())

    # A dry run (PACKTIVITY_DRYRUN) runs host steps, as the original did: later steps publish
    # from what they write (fromyaml-pub), so a workflow's dry run could not proceed without.
    _run_step(exec_config, state, metadata, make_body, dry_run=False)


@executor("noop-env")
def noop_env(
    exec_config: Any,
    environment: dict[str, Any],
    state: Optional[State],
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
    state: Optional[State],
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Show the instructions and the state for a person to act on."""
    import yaml

    secho(environment["instructions"], fg="blue")
    secho(yaml.safe_dump(state.json() if state else None, default_flow_style=False), fg="cyan")


@executor("docker-encapsulated")
def docker_enc_handler(
    exec_config: Any,
    environment: dict[str, Any],
    state: Optional[State],
    job: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Run a command or a script in the step's container image, under Apptainer."""

    def make_body(metadir: str, log: logging.Logger) -> JobBody:
        body = job_body(exec_config, environment, state, job, metadata, metadir, log, local_host())
        log.info("running in %s: %s", environment["image"], describe_job(job))
        return body

    _run_step(exec_config, state, metadata, make_body, dry_run=exec_config.dry_run())
