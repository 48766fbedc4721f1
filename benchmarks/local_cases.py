"""Cases that need no scheduler: CLI start, a host step end to end, container overhead."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from .report import Row
from .timing import command_seconds, fresh_command_seconds, median_seconds, run, scratch
from .venvs import original_bin

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
    with scratch("host") as directory:
        parameters = directory / "parameters.yml"
        parameters.write_text("name: bench\noutputfile: '{workdir}/hello.txt'\n")

        def argv(script: Path) -> list[str]:
            work = tempfile.mkdtemp(dir=directory)
            return [str(script), "-t", str(EXAMPLES), "hello.yml", str(parameters), "-w", work]

        ours = fresh_command_seconds(lambda: argv(BIN / "packtivity-run"), repeat)
        theirs = fresh_command_seconds(lambda: argv(original_bin("packtivity-run")), repeat)
    return Row(
        "a localproc-env step end to end (`examples/hello.yml`)", ours, "the original 0.17.1",
        theirs, "faster", ours < theirs,
    )  # fmt: skip


def container_overhead(repeat: int, image: Path) -> list[Row]:
    """A docker-encapsulated ``true`` step against ``apptainer exec IMAGE true``: through the
    CLI (a new process, as from a shell), and through the Python API (as yadage runs steps)."""
    with scratch("container") as directory:
        spec = directory / "true.yml"
        spec.write_text(
            "process: {process_type: string-interpolated-cmd, cmd: 'true'}\n"
            f"environment: {{environment_type: docker-encapsulated, image: '{image}'}}\n"
            "publisher: {publisher_type: constant-pub, publish: {}}\n"
        )

        def cli_argv() -> list[str]:
            work = tempfile.mkdtemp(dir=directory)
            return [str(BIN / "packtivity-run"), "-t", str(directory), "true.yml", "-w", work]

        raw = command_seconds(["apptainer", "exec", str(image), "true"], repeat)
        ours = fresh_command_seconds(cli_argv, repeat)
        cold = median_seconds(  # a new, empty spec cache each run
            lambda: run(cli_argv(), {"XDG_CACHE_HOME": tempfile.mkdtemp(dir=directory)}), repeat
        )
        cli = command_seconds([str(BIN / "packtivity-run"), "--help"], repeat)
        api = median_seconds(_api_step(spec), repeat)
    return [
        Row(
            "a docker-encapsulated `true` step, `packtivity-run`", ours,
            "`apptainer exec IMAGE true`", raw, "under 50 ms added", ours - raw < 0.050,
            note=f"{(ours - raw) * 1000:.0f} ms added, of which {cli * 1000:.0f} ms is starting "
            f"the CLI; a spec's first run: {(cold - raw) * 1000:.0f} ms added",
        ),
        Row(
            "the same step through the Python API (as yadage runs it)", api,
            "`apptainer exec IMAGE true`", raw, "under 50 ms added", api - raw < 0.050,
            note=f"{(api - raw) * 1000:.0f} ms added",
        ),
    ]  # fmt: skip


def _api_step(spec: Path):
    """One call: the loaded step run by the default sync backend in a new work directory."""
    from packtivity import pack_object
    from packtivity.statecontexts import LocalFSState

    step = pack_object.fromspec(spec.name, str(spec.parent))

    def call() -> None:
        step({}, LocalFSState([tempfile.mkdtemp(dir=spec.parent)]))

    return call


def local_async(repeat: int) -> Row:
    """``-b local --async`` of a 60 s step: the time until the CLI returns (the job runs on,
    detached), against starting the same command detached from a shell.  Every job is
    cancelled afterwards, by its proxy (ours) or the PID the shell printed (the reference)."""
    import os
    import signal
    import subprocess

    with scratch("local-async") as directory:
        spec = directory / "sleep.yml"
        spec.write_text(
            "process: {process_type: string-interpolated-cmd, cmd: 'sleep 60'}\n"
            "environment: {environment_type: localproc-env}\n"
            "publisher: {publisher_type: constant-pub, publish: {}}\n"
        )
        proxies: list[Path] = []

        def argv() -> list[str]:
            work = Path(tempfile.mkdtemp(dir=directory))
            proxies.append(work / "proxy.json")
            return [str(BIN / "packtivity-run"), "-t", str(directory), "sleep.yml", "-b", "local",
                    "--async", "-x", str(proxies[-1]), "-w", str(work)]  # fmt: skip

        pids: list[int] = []

        def detached() -> None:
            started = subprocess.run(
                ["sh", "-c", "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            pids.append(int(started.stdout))

        try:
            ours = fresh_command_seconds(argv, repeat)
            theirs = median_seconds(detached, repeat)
        finally:
            for proxy in proxies:  # (a cancelled step's check exits 1: not an error here)
                if proxy.exists():
                    subprocess.run([str(BIN / "packtivity-checkproxy"), "--cancel", str(proxy)],
                                   capture_output=True, timeout=60)  # fmt: skip
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)  # the sleep this case started
    return Row(
        "`packtivity-run -b local --async` of a 60 s step, until it returns", ours,
        "`setsid sleep 60 &` from a shell", theirs, "under 2 s", ours < 2.0,
        note="the job runs on, detached; before the fix the CLI returned after the step (61 s)",
    )  # fmt: skip


def big_output(repeat: int) -> list[Row]:
    """A step that prints 100 MB as one line (no newline until the end): ``packtivity-run``
    (output to the terminal -- here /dev/null -- and to the step's log) against the same
    command piped through ``cat``.  Time and peak memory (``wait4``), medians."""
    from .timing import run_measured

    command = "head -c 100000000 /dev/zero | tr '\\0' x"
    with scratch("big-output") as directory:
        spec = directory / "big.yml"
        spec.write_text(
            f'process: {{process_type: string-interpolated-cmd, cmd: "{command}"}}\n'
            "environment: {environment_type: localproc-env}\n"
            "publisher: {publisher_type: constant-pub, publish: {}}\n"
        )

        def ours() -> tuple[float, float, int]:
            work = tempfile.mkdtemp(dir=directory)
            measured = run_measured(
                [str(BIN / "packtivity-run"), "-t", str(directory), "big.yml", "-w", work]
            )
            for log in Path(work).glob("_packtivity/*.run.log"):
                log.unlink()  # 100 MB each
            return measured

        runs = [ours() for _ in range(repeat)]
        cats = [run_measured(["sh", "-c", f"{command} | cat"]) for _ in range(repeat)]
    seconds = sorted(r[0] for r in runs)[len(runs) // 2]
    peak = sorted(r[1] for r in runs)[len(runs) // 2]
    cat_seconds = sorted(r[0] for r in cats)[len(cats) // 2]
    cat_peak = sorted(r[1] for r in cats)[len(cats) // 2]
    return [
        Row("a step printing one 100 MB line, `packtivity-run`", seconds,
            "the command piped through cat", cat_seconds, "close to cat (issue 18: was 73-81 s)",
            seconds < 2.0, note="output to /dev/null and the step's log"),
        Row("its peak memory", peak, "the command piped through cat", cat_peak,
            "bounded (issue 18: was 226 MiB)", peak < 64, unit="MiB"),
    ]  # fmt: skip
