"""Command-line interface: ``packtivity-run``, ``packtivity-validate``, ``packtivity-checkproxy``,
``packtivity-util``.

Thin: parse, call, print.  Exit codes: 0 ok, 1 the step failed, 2 bad input (one line on
stderr, no traceback; ``-v DEBUG`` shows one).  Files given with ``-o`` and ``-x`` are written
atomically.  Heavy modules are imported inside the commands so that ``--help`` is fast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar

import click

from .errors import (
    STORAGE_ERRNOS,
    BadInput,
    PacktivityError,
    SpecContentError,
    StorageError,
    storage_error,
)
from .inputs import check_writable, getinit_data  # noqa: F401 - getinit_data: the original's
from .utils import secho

if TYPE_CHECKING:
    from .protocol import AsyncBackend, Proxy

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("packtivity.cli")

VERBOSITY_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _fail(message: str, exit_code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(exit_code)


def version_option(func: F) -> F:
    """``--version``: this package's version (no metadata look-up: it costs start-up time)."""
    from . import __version__

    return click.version_option(__version__, "-V", "--version", prog_name="packtivity")(func)


def _level_names_as_options(args: list[str]) -> list[str]:
    """``-v LEVEL`` (the original's form: a level name, or an upper-case word, after ``-v``) as
    ``--verbosity LEVEL``; any other ``-v`` counts (``-v``, ``-vv``)."""
    rewritten: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        following = args[index + 1] if index + 1 < len(args) else ""
        level_like = following.upper() in VERBOSITY_LEVELS or (
            following.isalpha() and following.isupper()  # -v LOUD: say it is no level
        )
        if arg in ("-v", "--verbose") and level_like:
            rewritten += ["--verbosity", following]
            index += 2
            continue
        rewritten.append(arg)
        index += 1
    return rewritten


class PacktivityCommand(click.Command):
    """A command whose ``-v`` also takes a level name, as the original's did."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _level_names_as_options(args))


def verbosity_options(func: F) -> F:
    """``-v/--verbose`` (a count), ``-q/--quiet`` (a count) and ``--verbosity LEVEL``."""
    for option in reversed(
        [
            click.option(
                "-v",
                "--verbose",
                count=True,
                help="More log output: -v warnings, -vv info, -vvv debug (-v LEVEL names one).",
            ),
            click.option(
                "-q", "--quiet", count=True, help="Less log output (only critical errors)."
            ),
            click.option(
                "--verbosity",
                default=None,
                metavar="LEVEL",
                help="Log level: DEBUG, INFO, WARNING, ERROR (the default) or CRITICAL.",
            ),
        ]
    ):
        func = option(func)
    return func


def handle_errors(func: F) -> F:
    """Turn packtivity's errors into one message and their exit code (traceback only at DEBUG)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from . import signals

        signals.install()  # SIGTERM/SIGHUP end the command as Ctrl-C does
        try:
            return func(*args, **kwargs)
        except PacktivityError as error:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                log.exception("failed")
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt as interruption:
            _fail(signals.describe(interruption), signals.exit_code(interruption))
        except Exception as error:  # a bug, or an error of a plugin: say so briefly
            if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
                failed = storage_error(error)  # a full disk is no bug: one line, exit 3
                if logging.getLogger().isEnabledFor(logging.DEBUG):
                    log.exception("failed")
                _fail(str(failed), failed.exit_code)
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            _fail(f"unexpected {type(error).__name__}: {error} (run with -v DEBUG for details)", 1)

    return wrapper  # type: ignore[return-value]


def setup_logging(verbosity: Optional[str], verbose: int = 0, quiet: int = 0) -> None:
    """Log at the level named by ``verbosity`` (default ERROR), ``verbose`` levels more
    detailed and ``quiet`` levels less (``-vv``: DEBUG; ``-q``: CRITICAL only)."""
    name = (verbosity or "ERROR").upper()
    if name not in VERBOSITY_LEVELS:
        raise BadInput(f"unknown verbosity '{verbosity}'; use one of {', '.join(VERBOSITY_LEVELS)}")
    index = VERBOSITY_LEVELS.index(name) - verbose + quiet
    level = VERBOSITY_LEVELS[max(0, min(index, len(VERBOSITY_LEVELS) - 1))]
    logging.basicConfig(
        level=logging.getLevelName(level), format="%(levelname)s %(name)s: %(message)s"
    )
    if level != "DEBUG":
        # what these libraries log on failure is said again, in one line, by our error
        logging.getLogger("yadageschemas").setLevel(logging.CRITICAL)


def _dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def _write_output(path: Optional[str], data: Any) -> None:
    if path:
        from .atomicfile import write_json_atomic

        try:
            write_json_atomic(path, data)
        except OSError as error:
            if error.errno in STORAGE_ERRNOS:  # the old file, if any, is left as it was
                raise StorageError(f"cannot write '{path}': {error.strerror}") from None
            raise BadInput(f"cannot write '{path}': {error.strerror}") from None


def load_spec_and_parameters(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set up logging; load the spec and the parameters given by ``spec_options``."""
    from .utils import load_packtivity

    setup_logging(options["verbosity"], options["verbose"], options["quiet"])
    spec = load_packtivity(
        options["spec"], options["toplevel"], options["schemasource"], options["validate"]
    )
    return spec, getinit_data(options["parfiles"], options["parameter"])


def state_options(options: dict[str, Any]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(statefile, write, read)`` as given by ``spec_options``."""
    return options["state"], options["write"], options["read"]


def spec_options(func: F) -> F:
    """The options shared by every command that loads a spec and runs it."""
    options = [
        click.argument("spec"),
        click.argument("parfiles", nargs=-1),
        click.option(
            "-p",
            "--parameter",
            multiple=True,
            metavar="NAME=VALUE",
            help="A parameter; VALUE is parsed as YAML. Repeatable. Split on the first '='.",
        ),
        click.option(
            "-r",
            "--read",
            multiple=True,
            default=[],
            metavar="DIR",
            help="A read-only directory of the state ({readdir0}, ...). Repeatable.",
        ),
        click.option(
            "-w",
            "--write",
            multiple=True,
            default=[os.curdir],
            show_default=True,
            metavar="DIR",
            help="A read-write directory of the state; the first is {workdir}. Repeatable.",
        ),
        click.option(
            "-s",
            "--state",
            default="",
            metavar="FILE",
            help="A YAML file with 'readwrite' and 'readonly' lists (instead of -w/-r).",
        ),
        click.option(
            "-t",
            "--toplevel",
            default=None,
            metavar="LOCATION",
            help="Where SPEC is looked up: a directory (default: the current one), file://, "
            "http(s)://, github:owner/repo[@ref][:path] or from-github/...",
        ),
        click.option(
            "-c",
            "--schemasource",
            default=None,
            metavar="DIR",
            help="Directory of the JSON schemas (default: those of yadage-schemas).",
        ),
        click.option(
            "--validate/--no-validate",
            default=True,
            show_default=True,
            help="Validate the spec against the packtivity schema.",
        ),
        click.option(
            "-b",
            "--backend",
            default="defaultsync",
            show_default=True,
            help="Where to run: defaultsync, foregroundasync, multiproc:N|auto, py:module:Class, "
            "fromenv, or an installed backend.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return verbosity_options(func)


def batch_options(func: F) -> F:
    """Resource flags of the batch backends (yadage's -k options have the same names)."""
    options = [
        click.option("--cpus", type=int, default=None, help="Batch: CPU cores for the step."),
        click.option("--memory", default=None, metavar="SIZE", help="Batch: memory, e.g. 4G."),
        click.option(
            "--walltime", default=None, metavar="TIME", help="Batch: hh:mm:ss, minutes, 90m, 2h."
        ),
        click.option("--gpus", type=int, default=None, help="Batch: GPUs for the step."),
        click.option("--queue", default=None, help="Batch: queue (Slurm partition)."),
        click.option("--account", default=None, help="Batch: account / project to charge."),
        click.option("--reservation", default=None, help="Batch: reservation to run in."),
        click.option(
            "--scheduler-option",
            "scheduler_option",
            multiple=True,
            metavar="NAME=VALUE",
            help="Batch: any other scheduler flag, e.g. constraint=haswell. Repeatable.",
        ),
        click.option(
            "--profile",
            default=None,
            help="Batch: a profile of the config file (PACKTIVITY_CONFIG, default "
            "$XDG_CONFIG_HOME/packtivity/config.yml, ~/.config/... when unset).",
        ),
        click.option(
            "--ssh",
            default=None,
            metavar="[USER@]HOST[:PORT]",
            help="Batch: submit on this cluster over SSH (a ~/.ssh/config alias works); "
            "-w/-r are then its paths.",
        ),
        click.option(
            "--queue-size",
            "queue_size",
            type=int,
            default=None,
            metavar="N",
            help="Batch: at most N jobs of this process in the queue at once; more wait here "
            "(default 100).",
        ),
        click.option(
            "--retries",
            type=int,
            default=None,
            metavar="N",
            help="Batch: submit a step the cluster ended (walltime, memory, node failure, "
            "preemption) again, up to N times, with twice what it ran out of (default 0; "
            "retry_on and retry_grow in the config file say which ends and how much more).",
        ),
        click.option(
            "--submit-rate-limit",
            "submit_rate_limit",
            default=None,
            metavar="N/TIME",
            help="Batch: at most N submissions per TIME, e.g. 10/1s or 50/1min (default: none).",
        ),
        click.option(
            "--accept-new-host-key",
            "accept_new_host_key",
            is_flag=True,
            default=None,
            help="Batch: trust an SSH host seen for the first time and add its key to "
            "known_hosts (a changed key is still refused).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command(cls=PacktivityCommand, context_settings={"help_option_names": ["-h", "--help"]})
@spec_options
@batch_options
@click.option(
    "--asyncwait/--async",
    default=True,
    show_default=True,
    help="Async backends: wait for the result, or write a proxy and return at once.",
)
@click.option(
    "-x",
    "--proxyfile",
    default="proxy.json",
    show_default=True,
    metavar="FILE",
    help="Where --async (or Ctrl-C while waiting) writes the proxy, atomically.",
)
@click.option(
    "-o",
    "--outfile",
    default=None,
    metavar="FILE",
    help="Also write the result JSON here (atomically).",
)
@click.option(
    "--show-script",
    is_flag=True,
    default=False,
    help="Batch: print the job script that would be submitted, and submit nothing.",
)
@click.option(
    "--name",
    "step_name",
    default="packtivity",
    show_default=True,
    metavar="NAME",
    help="Name of the step: its files in <workdir>/_packtivity/ are NAME-<run id>.*, and so is "
    "its batch job.",
)
@version_option
@handle_errors
def runcli(
    asyncwait: bool,
    proxyfile: str,
    outfile: Optional[str],
    backend: str,
    show_script: bool,
    step_name: str,
    **options: Any,
) -> None:
    """Run the packtivity SPEC with parameters from PARFILES (YAML) and -p.

    SPEC is a file name relative to --toplevel, optionally with a JSON pointer
    (steps.yml#/mystep).  The result is printed as JSON on stdout.  With -b slurm, pbs or
    local the step runs as a batch job; --async hands back a proxy to check later with
    packtivity-checkproxy.
    """
    from . import runner
    from .jobscript import STEP_NAME

    if not STEP_NAME.fullmatch(step_name):
        raise BadInput(
            f"--name {step_name!r}: use up to 64 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit (it names files and batch jobs)"
        )
    given = {name: options.pop(name) for name in runner.BATCH_FLAGS}
    batch_flags = {name: value for name, value in given.items() if value not in (None, ())}
    spec, parameters = load_spec_and_parameters(options)
    for path in (outfile, proxyfile if not asyncwait else None):
        check_writable(path)
    run = runner.prepare(
        spec,
        parameters,
        state_options(options),
        backend,
        batch_flags,
        {"name": step_name},
        asyncwait=asyncwait,
        show_script=show_script,
    )
    if runner.shows_script_only(run, show_script):
        shown = runner.scheduler_script(run, show_script)
        _say(shown.notes)
        click.echo(shown.script, nl=False)
        return
    _run_prepared(run, asyncwait, proxyfile, outfile)


def _run_prepared(run: Any, asyncwait: bool, proxyfile: str, outfile: Optional[str]) -> None:
    """Prepublish, start, then wait and print the result (or save the proxy, --async)."""
    from . import runner

    _say([runner.prepublish(run)])
    started = runner.start(run)
    _say(started.notes)
    if started.proxy is not None and not asyncwait:
        proxydata = started.proxy.json()
        _write_output(proxyfile, proxydata)
        click.echo(f"proxy written to {proxyfile}: check it with 'packtivity-checkproxy "
                   f"{shlex.quote(proxyfile)}'", err=True)  # fmt: skip
        click.echo(_dump(proxydata))  # stdout: the proxy's JSON, nothing else
        return
    if started.proxy is not None:
        result = _wait_for_one(run.backend, started.proxy, proxyfile)
    elif started.result is not None:
        result = started.result
    else:
        return  # a dry run of a container step: nothing to publish
    click.echo(_dump(result.json()))
    _write_output(outfile, result.json())


def _say(notes: Sequence[Optional[str]]) -> None:
    """Notes for people, on stderr."""
    for note in notes:
        if note:
            click.echo(note, err=True)


def _wait_for_one(backend: AsyncBackend, proxy: Proxy, proxyfile: str) -> Any:
    """Wait for a submitted step with progress; Ctrl-C leaves it running and saves its proxy."""
    from . import waiting
    from .protocol import describe, saveable

    label = describe(proxy)
    try:
        waiting.wait([(label, backend, proxy)])
    except KeyboardInterrupt as interruption:
        if saveable(proxy):
            from . import signals

            _write_output(proxyfile, proxy.json())
            _fail(
                f"{signals.describe(interruption)}: {label} keeps running; its proxy is in "
                f"{proxyfile}: check it with 'packtivity-checkproxy {proxyfile}'",
                signals.exit_code(interruption),
            )
        raise
    return backend.result(proxy)


@click.command(cls=PacktivityCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("spec")
@click.option(
    "-t",
    "--toplevel",
    default=None,
    metavar="LOCATION",
    help="Where SPEC is looked up (directory, file://, http(s)://, github:...). "
    "Default: the current directory.",
)
@click.option(
    "-c", "--schemasource", default=None, metavar="DIR", help="Directory of the JSON schemas."
)
@click.option(
    "-n",
    "--schemaname",
    default="packtivity/packtivity-schema",
    show_default=True,
    help="The schema to validate against.",
)
@click.option(
    "--show/--no-show",
    default=False,
    show_default=True,
    help="Print the loaded spec (defaults filled in) as JSON.",
)
@version_option
@handle_errors
def validatecli(
    spec: str, toplevel: Optional[str], schemasource: Optional[str], schemaname: str, show: bool
) -> None:
    """Check that SPEC is a valid packtivity.

    Exit codes, as linters have them: 0 valid; 1 not valid (not YAML, not a mapping, or not
    matching the schema: the reason is printed); 2 could not be checked (a file that cannot be
    found or read, a remote spec that cannot be fetched, bad usage).
    """
    from . import spec as specmodule

    setup_logging("ERROR")
    if schemaname != specmodule.SCHEMA_NAME:
        specmodule.SCHEMA_NAME = schemaname
    try:
        loaded = specmodule.load_spec(spec, toplevel, schemasource, validate=True)
    except SpecContentError as error:
        _fail(str(error), 1)
    if show:
        click.echo(json.dumps(loaded, indent=2))
    else:
        secho("packtivity definition is valid", fg="green")


@click.command(cls=PacktivityCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("proxyfiles", nargs=-1, required=True, metavar="PROXY...")
@click.option(
    "-o",
    "--outfile",
    default=None,
    metavar="FILE",
    help="Write the result JSON here (one proxy only).",
)
@click.option("--wait", is_flag=True, default=False, help="Block until every step has finished.")
@click.option(
    "--json", "as_json", is_flag=True, default=False, help="Print one JSON object for machines."
)
@click.option("--cancel", is_flag=True, default=False, help="Cancel the steps' jobs.")
@verbosity_options
@version_option
@handle_errors
def checkproxy(
    proxyfiles: tuple[str, ...],
    outfile: Optional[str],
    wait: bool,
    as_json: bool,
    cancel: bool,
    verbosity: Optional[str],
    verbose: int,
    quiet: int,
) -> None:
    """Check proxies written by 'packtivity-run --async' (or by Ctrl-C while waiting).

    For a finished step, runs its publisher on the shared storage and prints the result.  Exit
    0 when every step succeeded or is still running, 1 when one failed, was cancelled or is
    unknown to the scheduler, 2 for an unreadable proxy.  Checking again gives the same answer.
    """
    from . import reports, waiting

    setup_logging(verbosity, verbose, quiet)
    if outfile and len(proxyfiles) > 1:
        raise BadInput("-o/--outfile takes one proxy at a time")
    saved = reports.load_saved(proxyfiles)
    if cancel:
        reports.cancel(saved)
        for item in saved:
            click.echo(f"{item.path}: cancel requested", err=True)
    statuses = waiting.wait([(s.path, s.backend, s.proxy) for s in saved]) if wait else None
    steps = reports.report(saved, statuses)
    for step in steps:
        if step.result is not None:
            _write_output(outfile, step.result)
    if as_json:
        click.echo(_dump(reports.json_report(steps)))
    else:
        for step in steps:
            prefix = f"{step.path}: " if len(steps) > 1 else ""
            status = step.status
            click.echo(f"{prefix}ready: {status.finished}")  # the original's lines first
            if status.finished:
                click.echo(f"{prefix}successful: {status.succeeded}")
            click.echo(f"{prefix}status: {status.state}")
            if status.succeeded:
                click.echo(f"{prefix}result: {_dump(step.result)}")
            elif status.message:
                label = "failure" if status.finished else "note"
                click.echo(f"{prefix}{label}: {status.message}")
    if reports.any_failed(steps):
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def utilcli() -> None:
    """Tools for writing packtivities."""


@utilcli.command(cls=PacktivityCommand)
@spec_options
@handle_errors
def pubtest(backend: str, **options: Any) -> None:
    """Run only the publisher of SPEC against the current state and print its result."""
    from .inputs import make_state
    from .syncbackends import finalize_inputs, packconfig, publish

    spec, parameters = load_spec_and_parameters(options)
    parameters, state = finalize_inputs(parameters, make_state(*state_options(options)))
    result = publish(spec["publisher"], parameters, state, packconfig())
    click.echo(_dump(result.json()))


@utilcli.command(cls=PacktivityCommand)
@spec_options
@handle_errors
def shell(backend: str, **options: Any) -> None:
    """Open an interactive shell in the environment of SPEC, in its work directory.

    A docker-encapsulated SPEC gets its container, with the same image, binds and variables as
    a run; a localproc-env SPEC gets a shell on the host.
    """
    from .hosts import local_host
    from .inputs import make_state
    from .plan import shell_plan
    from .syncbackends import ExecutionConfig

    spec, parameters = load_spec_and_parameters(options)
    state = make_state(*state_options(options))
    state.ensure()
    exec_config = ExecutionConfig()
    shell = shell_plan(spec, parameters, state, exec_config, local_host())
    if exec_config.dry_run():  # nothing pulled (only said), written or run
        click.echo(f"dry run: would open: cd {shlex.quote(shell.cwd)} && {shlex.join(shell.argv)}")
        return
    for path, content in shell.files.items():
        local_host().write_text(path, content)
    if shell.in_container:
        click.echo(f"packtivity: {shlex.join(shell.argv)}", err=True)
    sys.exit(local_host().run_interactive(shell.argv, cwd=shell.cwd))


def _run_options(func: F) -> F:
    """DIR... and ``--ssh`` of the commands that operate a run."""
    func = click.option(
        "--ssh",
        metavar="[USER@]HOST[:PORT]",
        default=None,
        help="The directories are on this host (a ~/.ssh/config alias works).",
    )(func)
    return click.argument("directories", nargs=-1, required=True, metavar="DIR...")(func)


@utilcli.command()
@_run_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (packtivity-status/1).")
@click.option("--watch", is_flag=True, help="Refresh in place until every step has finished.")
@handle_errors
def status(directories: tuple[str, ...], ssh: Optional[str], as_json: bool, watch: bool) -> None:
    """Every step under DIR... (a yadage work directory, any tree of step work directories):
    state, job, host, elapsed time, exit code, and why it failed.

    One search for the steps' files and one status command per scheduler for all of them.
    Exit 0 when no step failed, 1 when one did (or was cancelled, or is unknown)."""
    from . import runs

    host = runs.host(ssh)
    steps = runs.find_steps(host, list(directories))
    live = watch and sys.stdout.isatty()
    while True:
        rows = runs.status(host, steps)
        text = _dump(runs.json_status(rows)) if as_json else runs.table(rows)
        click.echo(("\033[H\033[2J" if live else "") + text)
        if not watch or all(row.status.finished for row in rows):
            break
        time.sleep(runs.poll_interval(rows))
        steps = runs.find_steps(host, list(directories))  # a workflow adds steps as it goes
    if any(row.status.finished and not row.status.succeeded for row in rows):
        sys.exit(1)


@utilcli.command()
@_run_options
@handle_errors
def cancel(directories: tuple[str, ...], ssh: Optional[str]) -> None:
    """Cancel the job of every step under DIR... that has not finished."""
    from . import runs

    host = runs.host(ssh)
    asked = runs.cancel(runs.status(host, runs.find_steps(host, list(directories))))
    for row in asked:
        click.echo(f"cancel requested: {row.files.step} ({row.job})")
    click.echo(f"{len(asked)} steps asked to cancel", err=True)


@utilcli.command()
@_run_options
@click.option("--yes", is_flag=True, help="Remove them (without it, only list them).")
@handle_errors
def clean(directories: tuple[str, ...], ssh: Optional[str], yes: bool) -> None:
    """Remove packtivity's own files of the steps under DIR...: their _packtivity directories
    (job bodies, logs, run records, proxies).  A step's outputs are never touched.  Lists what
    it would remove unless --yes; refuses while a step has not finished."""
    from . import runs

    host = runs.host(ssh)
    steps = runs.find_steps(host, list(directories))
    running = [row for row in runs.status(host, steps) if not row.status.finished]
    if running:
        names = ", ".join(row.files.step for row in running[:5]) + (", ..." * (len(running) > 5))
        raise BadInput(
            f"{len(running)} steps have not finished ({names}): wait for them, or "
            "'packtivity-util cancel' them first"
        )
    meta = runs.meta_directories(host, list(directories))
    for directory in meta:
        click.echo(("removed " if yes else "would remove ") + directory)
        if yes:
            host.remove_tree(directory)
    if not yes and meta:
        click.echo(f"{len(meta)} directories; pass --yes to remove them", err=True)


@utilcli.command()
@_run_options
@click.option("-o", "--output", required=True, metavar="FILE.html", help="Where to write it.")
@click.option("--title", default=None, help="The page's title [the directories].")
@handle_errors
def report(
    directories: tuple[str, ...], ssh: Optional[str], output: str, title: Optional[str]
) -> None:
    """One self-contained HTML file about every step under DIR...: a timeline, every step's
    state, job, host, times and asked-for resources, each failure with its log's tail, and the
    images by digest.  No script and nothing from the network: it opens anywhere, offline.
    An existing FILE is replaced only when it is a packtivity report."""
    from . import report as report_module
    from . import runs
    from .atomicfile import write_text_atomic

    check_writable(output)
    if os.path.exists(output):
        with open(output, encoding="utf-8", errors="replace") as handle:
            if handle.readline().strip() != report_module.MARKER:
                raise BadInput(f"-o {output}: the file exists and is not a packtivity report")
    host = runs.host(ssh)
    rows = runs.status(host, runs.find_steps(host, list(directories)))
    views = report_module.collect(host, rows)
    write_text_atomic(output, report_module.render(views, title or " ".join(directories)))
    click.echo(f"report of {len(rows)} steps written to {output}", err=True)


@utilcli.command()
@click.argument("file", metavar="RECORD_OR_PROXY")
@click.option(
    "-w",
    "--write",
    "workdir",
    required=True,
    metavar="DIR",
    help="The work directory of the new run (never the old one's: its outputs stay).",
)
@click.option(
    "-b",
    "--backend",
    default=None,
    metavar="BACKEND",
    help="Where to run it: -b slurm, pbs, local, ... [the record's own].",
)
@click.option(
    "--ssh",
    default=None,
    metavar="[USER@]HOST[:PORT]",
    help="FILE and DIR are on this host; the step runs there.",
)
@click.option("--asyncwait/--async", default=True, help="Wait for the result, or save a proxy.")
@click.option("-x", "--proxyfile", default="proxy.json", show_default=True, metavar="FILE")
@click.option("-o", "--outfile", default=None, metavar="FILE", help="Also write the result here.")
@handle_errors
def rerun(
    file: str,
    workdir: str,
    backend: Optional[str],
    ssh: Optional[str],
    asyncwait: bool,
    proxyfile: str,
    outfile: Optional[str],
) -> None:
    """Run a step again from its run record (or the proxy kept beside it): the same spec,
    parameters and read-only inputs, in a new work directory, here or elsewhere (-b, --ssh).

    Says first what differs from the recorded run: the image's content, the packtivity
    version; and after it, the host."""
    from . import runner, runs

    host = runs.host(ssh)
    again = runs.rerun_plan(host, file, workdir, backend)
    _say(again.notes)
    for path in (outfile, proxyfile if not asyncwait else None):
        check_writable(path)
    batch_flags = {"ssh": ssh} if ssh else {}
    run = runner.prepare(again.spec, again.parameters, again.state_options, again.backend,
                         batch_flags, again.metadata, asyncwait=asyncwait)  # fmt: skip
    _run_prepared(run, asyncwait, proxyfile, outfile)
    _say(runs.rerun_differences(host, again, workdir))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def main() -> None:
    """packtivity: run packaged activities (``python -m packtivity COMMAND``, where the console
    scripts packtivity-run, -validate, -checkproxy and -util are not on the PATH)."""


main.add_command(runcli, "run")
main.add_command(validatecli, "validate")
main.add_command(checkproxy, "checkproxy")
main.add_command(utilcli, "util")
