"""Cases that need no scheduler: CLI start, a host step end to end, container overhead."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from .original import original_bin
from .report import Row
from .timing import command_seconds, run

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cli_start(repeat: int) -> Row:
    ours = command_seconds([str(BIN / "packtivity-run"), "--help"], repeat)
    theirs = command_seconds([str(original_bin("packtivity-run")), "--help"], repeat)
    return Row(
        "`packtivity-run --help`", ours, "the original 0.17.1", theirs,
        "at most 0.5x", ours <= 0.5 * theirs,
    )  # fmt: skip


def host_step(repeat: int) -> Row:
    """``examples/hello.yml`` in a fresh work directory each time, by both packages."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-host-"))
    parameters = scratch / "parameters.yml"
    parameters.write_text("name: bench\noutputfile: '{workdir}/hello.txt'\n")

    def argv(script: Path) -> list[str]:
        work = Path(tempfile.mkdtemp(dir=scratch))
        return [str(script), "-t", str(EXAMPLES), "hello.yml", str(parameters), "-w", str(work)]

    ours = command_seconds_fresh(lambda: argv(BIN / "packtivity-run"), repeat)
    theirs = command_seconds_fresh(lambda: argv(original_bin("packtivity-run")), repeat)
    shutil.rmtree(scratch, ignore_errors=True)
    return Row(
        "a localproc-env step end to end (`examples/hello.yml`)", ours, "the original 0.17.1",
        theirs, "faster", ours < theirs,
    )  # fmt: skip


def command_seconds_fresh(make_argv, repeat: int) -> float:
    """Like :func:`command_seconds`, with new arguments (a new work directory) each run."""
    from .timing import median_seconds

    return median_seconds(lambda: run(make_argv()), repeat)


def container_overhead(repeat: int, image: Path) -> Row:
    """A docker-encapsulated ``true`` step, against ``apptainer exec IMAGE true``."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-container-"))
    spec = scratch / "true.yml"
    spec.write_text(
        "process: {process_type: string-interpolated-cmd, cmd: 'true'}\n"
        f"environment: {{environment_type: docker-encapsulated, image: '{image}'}}\n"
        "publisher: {publisher_type: constant-pub, publish: {}}\n"
    )
    raw = command_seconds(["apptainer", "exec", str(image), "true"], repeat)
    ours = command_seconds_fresh(
        lambda: [str(BIN / "packtivity-run"), "-t", str(scratch), "true.yml",
                 "-w", tempfile.mkdtemp(dir=scratch)],
        repeat,
    )  # fmt: skip
    cli = command_seconds([str(BIN / "packtivity-run"), "--help"], repeat)
    shutil.rmtree(scratch, ignore_errors=True)
    added = ours - raw
    return Row(
        "a docker-encapsulated `true` step, local", ours, "`apptainer exec IMAGE true`", raw,
        "under 50 ms added", added < 0.050,
        note=f"{added * 1000:.0f} ms added, of which {cli * 1000:.0f} ms is starting the CLI",
    )  # fmt: skip
