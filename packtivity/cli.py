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
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

import click

from .errors import (
    BadInput,
    PacktivityError,
    ParameterError,
    ProxyError,
    SpecContentError,
    StateError,
)
from .utils import one_line, secho

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
        try:
            return func(*args, **kwargs)
        except PacktivityError as error:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                log.exception("failed")
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as error:  # a bug, or an error of a plugin: say so briefly
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
    logging.basicConfig(level=getattr(logging, level), format="%(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # what these libraries log on failure is said again, in one line, by our error
        logging.getLogger("yadageschemas").setLevel(logging.CRITICAL)


def parse_parameter(text: str) -> tuple[str, Any]:
    """``name=value`` (split on the first ``=``).

    The value is parsed as YAML (``3`` is a number, ``[a, b]`` a list); a value that is not
    valid YAML, such as ``{workdir}/out.txt``, is taken as the plain string.
    """
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"malformed parameter '{text}': use -p name=value")
    try:
        return name.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        log.debug("parameter %s: not YAML, taken as a string: %r", name, value)
        return name.strip(), value


def read_yaml_mapping(path: str, what: str, error_class: type[BadInput]) -> dict[str, Any]:
    import yaml

    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        raise error_class(f"cannot read {what} '{path}': {error.strerror}") from None
    except yaml.YAMLError as error:
        problem = one_line(error)
        raise error_class(f"{what} '{path}' is not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error_class(f"{what} '{path}' must hold a mapping, not a {type(data).__name__}")
    return data


def getinit_data(
    initfiles: tuple[str, ...] | list[str], parameters: tuple[str, ...] | list[str]
) -> dict[str, Any]:
    """Parameters from YAML files, then ``name=value`` strings (later ones win)."""
    initdata: dict[str, Any] = {}
    for initfile in initfiles:
        initdata.update(read_yaml_mapping(initfile, "parameter file", ParameterError))
    for text in parameters:
        name, value = parse_parameter(text)
        initdata[name] = value
    return initdata


def make_state(
    statefile: str, write: tuple[str, ...], read: tuple[str, ...], host: Any = None
) -> Any:
    """The step state: from ``-s`` (YAML with readwrite/readonly, or state JSON), or -w/-r.

    With a ``host`` reached over SSH, -w/-r are paths on that host: absolute, or ``~/...``
    (quoted, so that the local shell leaves the ``~`` alone).
    """
    from .statecontexts import LocalFSState, load_state

    if statefile:
        data = read_yaml_mapping(statefile, "state file", StateError)
        if "state_type" in data:
            state = load_state(data)
        else:
            for key in ("readwrite", "readonly"):
                if not isinstance(data.get(key, []), list):
                    raise StateError(
                        f"state file '{statefile}': '{key}' must be a list of directories"
                    )
            state = LocalFSState(data.get("readwrite", []), data.get("readonly", []))
    elif host is None:
        return LocalFSState(
            [os.path.realpath(w) for w in write], [os.path.realpath(r) for r in read]
        )
    else:
        state = LocalFSState([_path_on(host, w) for w in write], [_path_on(host, r) for r in read])
    return state.on_host(host) if host is not None and hasattr(state, "on_host") else state


def _path_on(host: Any, path: str) -> str:
    expanded = host.expanduser(path)
    if not expanded.startswith("/"):
        raise StateError(
            f"'{path}': with --ssh, -w and -r are directories on {host.name}: give them "
            "absolute, or as '~/...' in quotes"
        )
    return expanded


def _dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def _check_writable(path: Optional[str]) -> None:
    """Fail before running when an output file could not be written afterwards."""
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BadInput(f"cannot write '{path}': directory '{directory}' does not exist")
    if not os.access(directory, os.W_OK):
        raise BadInput(f"cannot write '{path}': directory '{directory}' is not writable")
    if os.path.isdir(path):
        raise BadInput(f"cannot write '{path}': it is a directory")


def _write_output(path: Optional[str], data: Any) -> None:
    if path:
        from .atomicfile import write_json_atomic

        try:
            write_json_atomic(path, data)
        except OSError as error:
            raise BadInput(f"cannot write '{path}': {error.strerror}") from None


@dataclass
class StepInputs:
    """What every spec-running command loads from its arguments."""

    spec: dict[str, Any]
    parameters: dict[str, Any]
    state: Any


def load_step_inputs(options: dict[str, Any]) -> StepInputs:
    """Set up logging; load the spec, parameters and state given by ``spec_options``."""
    from .utils import load_packtivity

    setup_logging(options["verbosity"], options["verbose"], options["quiet"])
    spec = load_packtivity(
        options["spec"], options["toplevel"], options["schemasource"], options["validate"]
    )
    parameters = getinit_data(options["parfiles"], options["parameter"])
    state = make_state(options["state"], options["write"], options["read"])
    return StepInputs(spec, parameters, state)


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


BATCH_FLAGS = (
    "cpus",
    "memory",
    "walltime",
    "gpus",
    "queue",
    "account",
    "reservation",
    "scheduler_option",
    "profile",
    "ssh",
    "accept_new_host_key",
)


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
    import packtivity

    from .backendutils import backend_from_string
    from .batch import SCHEDULERS
    from .hosts import local_host
    from .jobscript import STEP_NAME
    from .syncbackends import check_inputs, packconfig

    if not STEP_NAME.fullmatch(step_name):
        raise BadInput(
            f"--name {step_name!r}: use up to 64 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit (it names files and batch jobs)"
        )
    metadata = {"name": step_name}
    given = {name: options.pop(name) for name in BATCH_FLAGS}
    batch_flags = {name: value for name, value in given.items() if value not in (None, ())}
    inputs = load_step_inputs(options)
    loaded_spec, parameters, step_state = inputs.spec, inputs.parameters, inputs.state
    for path in (outfile, proxyfile if not asyncwait else None):
        _check_writable(path)
    is_batch = backend in SCHEDULERS
    if (batch_flags or show_script) and not is_batch:
        flags = ", ".join(
            "--" + n.replace("_", "-")
            for n in [*batch_flags, *(["show_script"] if show_script else [])]
        )
        raise BadInput(f"{flags}: only for the batch backends (-b slurm, pbs or local)")
    is_sync, chosen = backend_from_string(backend, batch_flags)
    host = getattr(chosen, "host", None)
    if host is not None and host is not local_host():
        step_state = make_state(options["state"], options["write"], options["read"], host)
    check_inputs(
        loaded_spec,
        parameters,
        step_state,
        getattr(chosen, "pack_config", packconfig()),
        getattr(chosen, "exec_config", None),
        host,
    )
    if not is_sync and not asyncwait and not getattr(chosen, "saveable_proxies", True):
        from .asyncbackends import UNSAVEABLE

        raise BadInput("--async: " + UNSAVEABLE.format(backend=backend))
    if is_batch:
        chosen.resources(loaded_spec.get("environment"))  # bad resources: one line, nothing run
    from .syncbackends import ExecutionConfig

    dry_run = ExecutionConfig().dry_run()
    if show_script or (dry_run and is_batch):
        if not show_script:
            click.echo(f"dry run: nothing is submitted to {backend}; it would be:", err=True)
        click.echo(chosen.show_script(loaded_spec, parameters, step_state, metadata), nl=False)
        return
    step_state.ensure()
    prepub = chosen.prepublish(loaded_spec, parameters, step_state)
    if prepub is not None:
        click.echo(f"prepublished: {_dump(prepub.json())}", err=True)

    pack = packtivity.pack_object(loaded_spec)
    in_container = (loaded_spec.get("environment") or {}).get(
        "environment_type"
    ) == "docker-encapsulated" and bool(loaded_spec.get("process"))
    if dry_run and in_container:  # (a batch backend showed its script above)
        # the command lines are printed, nothing is pulled or run: there is nothing to publish
        pack(parameters, step_state, metadata=metadata)
        click.echo(
            "dry run (PACKTIVITY_DRYRUN): the container step was not run and nothing was "
            "pulled, so no result is published",
            err=True,
        )
        return
    if is_sync:
        result = pack(parameters, step_state, syncbackend=chosen, metadata=metadata)
    else:
        proxy = pack(
            parameters, step_state, asyncbackend=chosen, asyncwait=False, metadata=metadata
        )
        if not asyncwait:
            proxydata = proxy.json()
            _write_output(proxyfile, proxydata)
            click.echo(f"proxy written to {proxyfile}: check it with 'packtivity-checkproxy "
                       f"{shlex.quote(proxyfile)}'", err=True)  # fmt: skip
            click.echo(_dump(proxydata))  # stdout: the proxy's JSON, nothing else
            return
        result = _wait_for_one(chosen, proxy, proxyfile)
    click.echo(_dump(result.json()))
    _write_output(outfile, result.json())


def _wait_for_one(backend: Any, proxy: Any, proxyfile: str) -> Any:
    """Wait for a submitted step with progress; Ctrl-C leaves it running and saves its proxy."""
    from . import waiting

    label = proxy.describe() if hasattr(proxy, "describe") else "the step"
    try:
        waiting.wait([(label, backend, proxy)])
    except KeyboardInterrupt:
        if getattr(proxy, "saveable", False):
            _write_output(proxyfile, proxy.json())
            _fail(
                f"interrupted: {label} keeps running; its proxy is in {proxyfile}: "
                f"check it with 'packtivity-checkproxy {proxyfile}'",
                130,
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


def read_proxy_file(path: str) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as error:
        raise ProxyError(f"cannot read proxy file '{path}': {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ProxyError(f"proxy file '{path}' is not valid JSON: {error}") from None


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
    from . import waiting
    from .backendutils import load_proxy
    from .protocol import Cancels

    setup_logging(verbosity, verbose, quiet)
    if outfile and len(proxyfiles) > 1:
        raise BadInput("-o/--outfile takes one proxy at a time")
    items = []
    for path in proxyfiles:
        try:
            proxy, backend = load_proxy(read_proxy_file(path), best_effort_backend=True)
        except ProxyError as error:
            raise ProxyError(f"{path}: {error}") from None
        items.append((path, backend, proxy))
        waiting.watch_all(backend, proxy)  # all jobs in the first status command
    if cancel:
        for path, backend, proxy in items:
            if not isinstance(backend, Cancels):
                raise BadInput(f"{path}: this backend's steps cannot be cancelled")
            backend.cancel(proxy)
            click.echo(f"{path}: cancel requested", err=True)
    if wait:
        statuses = waiting.wait(items)
    else:
        statuses = {path: waiting.status_of(backend, proxy) for path, backend, proxy in items}
    report: dict[str, Any] = {}
    failed = False
    for path, backend, proxy in items:
        status = statuses[path]
        entry: dict[str, Any] = {"status": status.state, "exit_code": status.exit_code}
        if status.message:
            entry["message"] = status.message
        if status.succeeded:
            entry["result"] = backend.result(proxy).json()
            _write_output(outfile, entry["result"])
        elif status.finished:
            failed = True
        report[path] = entry
    if as_json:
        click.echo(_dump(json_report(report, statuses)))
    else:
        for path, entry in report.items():
            prefix = f"{path}: " if len(items) > 1 else ""
            status = statuses[path]
            click.echo(f"{prefix}ready: {status.finished}")  # the original's lines first
            if status.finished:
                click.echo(f"{prefix}successful: {status.succeeded}")
            click.echo(f"{prefix}status: {entry['status']}")
            if "result" in entry:
                click.echo(f"{prefix}result: {_dump(entry['result'])}")
            elif "message" in entry:
                label = "failure" if status.finished else "note"
                click.echo(f"{prefix}{label}: {entry['message']}")
    if failed:
        sys.exit(1)


#: the version of ``packtivity-checkproxy --json``'s output
CHECKPROXY_FORMAT = "packtivity-checkproxy/1"


def json_report(report: dict[str, dict[str, Any]], statuses: dict[str, Any]) -> dict[str, Any]:
    """``packtivity-checkproxy --json``: one shape for any number of proxies::

        {"format": "packtivity-checkproxy/1",
         "steps": [{"proxy": PATH, "status": STATE, "finished": BOOL, "succeeded": BOOL,
                    "exit_code": INT|null, "message": STR|null, "result": JSON|null}, ...]}

    in the order the proxies were given.  New keys may be added within a format version; a
    change to these is a new version.
    """
    steps = []
    for path, entry in report.items():
        status = statuses[path]
        steps.append(
            {
                "proxy": path,
                "status": entry["status"],
                "finished": bool(status.finished),
                "succeeded": bool(status.succeeded),
                "exit_code": entry["exit_code"],
                "message": entry.get("message"),
                "result": entry.get("result"),
            }
        )
    return {"format": CHECKPROXY_FORMAT, "steps": steps}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def utilcli() -> None:
    """Tools for writing packtivities."""


@utilcli.command(cls=PacktivityCommand)
@spec_options
@handle_errors
def pubtest(backend: str, **options: Any) -> None:
    """Run only the publisher of SPEC against the current state and print its result."""
    from .syncbackends import finalize_inputs, packconfig, publish

    inputs = load_step_inputs(options)
    parameters, state = finalize_inputs(inputs.parameters, inputs.state)
    result = publish(inputs.spec["publisher"], parameters, state, packconfig())
    click.echo(_dump(result.json()))


@utilcli.command(cls=PacktivityCommand)
@spec_options
@handle_errors
def shell(backend: str, **options: Any) -> None:
    """Open an interactive shell in the environment of SPEC, in its work directory.

    A docker-encapsulated SPEC gets its container, with the same image, binds and variables as
    a run; a localproc-env SPEC gets a shell on the host.
    """
    import logging
    import subprocess

    from .handlers.execution_handlers import container_command
    from .hosts import local_host
    from .syncbackends import ExecutionConfig, finalize_inputs

    inputs = load_step_inputs(options)
    loaded_spec, step_state = inputs.spec, inputs.state
    step_state.ensure()
    environment = loaded_spec.get("environment") or {"environment_type": "localproc-env"}
    env_type = environment["environment_type"]
    if env_type not in ("localproc-env", "docker-encapsulated"):
        raise BadInput(f"packtivity-util shell has no shell for environment type {env_type}")
    process = loaded_spec.get("process") or {}
    interpreter = (
        process.get("interpreter", "sh")
        if process.get("process_type") == "interpolated-script-cmd"
        else "sh"
    )
    workdir = step_state.readwrite[0]
    dry_run = ExecutionConfig().dry_run()
    if env_type == "localproc-env":
        if dry_run:
            click.echo(f"dry run: would open: cd {shlex.quote(workdir)} && sh -c {interpreter}")
            return
        sys.exit(subprocess.call(["sh", "-c", interpreter], cwd=workdir))
    from .handlers.environment_handlers import docker

    parameters, step_state = finalize_inputs(inputs.parameters, step_state)
    environment = docker(environment, parameters, step_state)
    envscript = environment.get("envscript") or ""
    command = ["sh", "-c", (f". {shlex.quote(envscript)} && " if envscript else "") + interpreter]
    host = local_host()
    argv, _, files = container_command(
        ExecutionConfig(),
        environment,
        step_state,
        command,
        {"name": "shell"},
        step_state.metadir,
        logging.getLogger("packtivity.shell"),
        host,
    )
    if dry_run:  # nothing pulled (container_command only printed it), written or run
        click.echo(f"dry run: would open: cd {shlex.quote(workdir)} && {shlex.join(argv)}")
        return
    for path, content in files.items():
        host.write_text(path, content)
    click.echo(f"packtivity: {shlex.join(argv)}", err=True)
    sys.exit(subprocess.call(argv, cwd=workdir))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def main() -> None:
    """packtivity: run packaged activities (``python -m packtivity COMMAND``, where the console
    scripts packtivity-run, -validate, -checkproxy and -util are not on the PATH)."""


main.add_command(runcli, "run")
main.add_command(validatecli, "validate")
main.add_command(checkproxy, "checkproxy")
main.add_command(utilcli, "util")
