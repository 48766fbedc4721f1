"""Cases on the test cluster's Slurm: submission, status of many proxies, throughput, SSH.

Jobs that only measure submission are submitted with a begin time an hour ahead, so nothing
runs while they are timed, and are cancelled afterwards.  The raw references submit an
equivalent script (``#!/bin/sh`` + ``true``) with ``sbatch`` and the same begin time.
Every job a case submits is cancelled when the case ends, however it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from .report import Row
from .timing import median_seconds, run, run_measured, scratch
from .venvs import SUBMITIT, venv_bin

BIN = Path(sys.executable).parent
HOLD = "now+3600"  #: the begin time of jobs that are only submitted
#: how often the raw reference asks squeue; packtivity's poller starts at the same 1 s
POLL_SECONDS = 1.0

TRIVIAL_SPEC: dict[str, Any] = {
    "process": {"process_type": "string-interpolated-cmd", "cmd": "true"},
    "environment": {"environment_type": "localproc-env"},
    "publisher": {"publisher_type": "interpolated-pub", "publish": {}},
}


# ---- helpers ---------------------------------------------------------------------------------


@contextmanager
def cancelled_afterwards() -> Iterator[list[str]]:
    """A list to put job ids in; they are all cancelled when the block ends."""
    ids: list[str] = []
    try:
        yield ids
    finally:  # (a step that never left its process's submit queue has no id)
        submitted = [job_id for job_id in ids if job_id]
        for start in range(0, len(submitted), 500):
            subprocess.run(["scancel", *submitted[start : start + 500]], check=False)


def raw_script(directory: Path) -> Path:
    script = directory / "raw.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o755)
    return script


def sbatch_argv(script: Path, hold: bool = True) -> list[str]:
    begin = [f"--begin={HOLD}"] if hold else []
    return ["sbatch", "--parsable", *begin, "-o", "/dev/null", "-e", "/dev/null", str(script)]


def sbatch(script: Path, hold: bool = True) -> str:
    return run(sbatch_argv(script, hold)).stdout.strip().split(";")[0]


def wait_for_queue_to_empty(ids: list[str]) -> None:
    """The raw way to wait: ask squeue for the jobs not yet ended, every POLL_SECONDS."""
    argv = ["squeue", "--noheader", "--states=PD,CF,R,CG", "--format=%i", "--jobs=" + ",".join(ids)]
    while run(argv).stdout.strip():
        time.sleep(POLL_SECONDS)


def slurm_backend(**options: Any) -> Any:
    from packtivity.batch.backend import BatchBackend

    return BatchBackend("slurm", **options)


def state_in(directory: Path, name: str) -> Any:
    from packtivity.statecontexts import LocalFSState

    return LocalFSState([str(directory / name)])


# ---- 4. submission ---------------------------------------------------------------------------


def cli_submission(repeat: int) -> Row:
    """``packtivity-run -b slurm --async`` of a trivial step against ``sbatch`` of a script."""
    with scratch("cli-submit") as directory, cancelled_afterwards() as ids:
        (directory / "true.yml").write_text(json.dumps(TRIVIAL_SPEC))
        script = raw_script(directory)
        counter = iter(range(10**6))

        def ours() -> None:
            n = next(counter)
            proxy = directory / f"p{n}.json"
            run([str(BIN / "packtivity-run"), "-b", "slurm", "--async",
                 "--scheduler-option", f"begin={HOLD}", "-t", str(directory), "true.yml",
                 "-w", str(directory / f"w{n}"), "-x", str(proxy)])  # fmt: skip
            ids.append(json.loads(proxy.read_text())["proxydetails"]["native_id"])

        theirs = median_seconds(lambda: ids.append(sbatch(script)), repeat)
        mine = median_seconds(ours, repeat)
    return Row(
        "`packtivity-run -b slurm --async`, a trivial step", mine, "`sbatch` of a script",
        theirs, "-", None,
        note="one CLI process per submission: starting Python is most of the difference",
    )  # fmt: skip


def inprocess_submission(count: int) -> Row:
    """``count`` submissions from one Python process (as yadage submits) against a loop of
    ``count`` raw ``sbatch`` calls, and PSI/J alone for the same script."""
    with scratch("api-submit") as directory, cancelled_afterwards() as ids:
        script = raw_script(directory)
        # every job submitted (queue_size would hold all but 100 back: those are no submissions)
        backend = slurm_backend(scheduler_option=(f"begin={HOLD}",), queue_size=count + 2)
        ids.append(backend.submit(TRIVIAL_SPEC, {}, state_in(directory, "warm"), None).native_id)

        start = time.perf_counter()
        for i in range(count):
            proxy = backend.submit(TRIVIAL_SPEC, {}, state_in(directory, f"w{i}"), {"name": "b"})
            ids.append(proxy.native_id)
        ours = (time.perf_counter() - start) / count
        if None in ids:  # held back by the process's submit queue: no submission to time
            raise RuntimeError(f"{ids.count(None)} of {count} steps were not submitted")

        start = time.perf_counter()
        for _ in range(count):
            ids.append(sbatch(script))
        raw = (time.perf_counter() - start) / count

        psij_alone = _psij_submissions(script, directory / "psij", count, ids)
    return Row(
        f"{count} submissions from one process (per job)", ours, "a loop of `sbatch`", raw,
        "at most 1.5x", ours <= 1.5 * raw,
        note=f"PSI/J alone: {psij_alone * 1000:.1f} ms, {psij_alone / raw:.2f}x",
    )  # fmt: skip


def _psij_submissions(script: Path, workdir: Path, count: int, ids: list[str]) -> float:
    """Seconds per job for PSI/J's Slurm executor submitting ``script`` on its own."""
    from psij import Job, JobAttributes, JobExecutor, JobSpec
    from psij.executors.batch.batch_scheduler_executor import BatchSchedulerExecutorConfig

    workdir.mkdir()
    config = BatchSchedulerExecutorConfig(work_directory=workdir, initial_queue_polling_delay=10**8)
    executor = JobExecutor.get_instance("slurm", config=config)
    spec = JobSpec(
        executable="/bin/sh",
        arguments=[str(script)],
        attributes=JobAttributes(custom_attributes={"slurm.begin": HOLD}),
    )
    start = time.perf_counter()
    for _ in range(count):
        job = Job(spec)
        executor.submit(job)
        ids.append(str(job.native_id))
    return (time.perf_counter() - start) / count


# ---- 5. status of many proxies ---------------------------------------------------------------


def status_of_proxies(repeat: int, counts: tuple[int, ...] = (1, 100, 1000)) -> list[Row]:
    """``packtivity-checkproxy`` of 1, 100, 1000 proxies of queued jobs: wall time, peak memory
    and scheduler commands, against one raw ``squeue`` for the same jobs."""
    rows = []
    with scratch("status") as directory, cancelled_afterwards() as ids:
        # every job in the queue (queue_size would hold all but 100 back in this process)
        backend = slurm_backend(scheduler_option=(f"begin={HOLD}",), queue_size=max(counts) + 1)
        paths = []
        for i in range(max(counts)):
            proxy = backend.submit(TRIVIAL_SPEC, {}, state_in(directory, f"w{i}"), {"name": "s"})
            ids.append(proxy.native_id)
            paths.append(directory / f"p{i}.json")
            paths[-1].write_text(json.dumps(proxy.json()))
        for count in counts:
            rows.append(
                _checkproxy_row(f"{count} queued", paths[:count], ids[:count], directory, repeat)
            )
        # issue 22: the same queued steps found by their directory (each keeps its proxy)
        status = [str(BIN / "packtivity-util"), "status", str(directory)]
        rows.append(_checkproxy_row(f"{max(counts)} queued", [], ids, directory, repeat, status))
        rows.append(_report_row(directory, max(counts), repeat))
    return rows


def _report_row(directory: Path, count: int, repeat: int) -> Row:
    """``packtivity-util report`` of the same steps: its time and size, and how long headless
    Chromium takes to load and render it (``--dump-dom``)."""
    page = directory / "report.html"
    report = [str(BIN / "packtivity-util"), "report", str(directory), "-o", str(page)]
    counting = CountingCommands(directory / "bin")
    measured = [counting.run(report) for _ in range(repeat)]
    wall = statistics.median(m[0] for m in measured)
    peak = max(m[1] for m in measured)
    programs = max((m[2] for m in measured), key=len)
    chromium = shutil.which("chromium")
    render = None
    if chromium:
        profile = directory / "chromium-profile"
        show = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]  # fmt: skip
        render = median_seconds(lambda: run(show), max(3, repeat // 2))
    size = page.stat().st_size / 2**20
    return Row(
        f"`packtivity-util report` of {count} queued steps", wall,
        "headless Chromium loading and rendering it", render,
        "under 2 MB, rendered under 2 s", size < 2 and render is not None and render < 2,
        note=f"{size:.2f} MB; peak {peak:.0f} MiB; scheduler programs run: "
        f"{', '.join(programs) or 'none'}",
    )  # fmt: skip


def _checkproxy_row(
    label: str,
    paths: list[Path],
    ids: list[str],
    directory: Path,
    repeat: int,
    argv: Optional[list[str]] = None,
) -> Row:
    """``packtivity-checkproxy`` of ``paths`` (or ``argv``, another command over those jobs)."""
    counting = CountingCommands(directory / "bin")
    walls, peaks, programs = [], [], []
    argv = argv or [str(BIN / "packtivity-checkproxy"), *map(str, paths)]
    for _ in range(repeat):
        wall, peak, log = counting.run(argv)
        walls.append(wall)
        peaks.append(peak)
        programs = max(programs, log, key=len)
    squeue = ["squeue", "--noheader", "--states=all", "--jobs=" + ",".join(ids)]
    raw = median_seconds(lambda: run(squeue), repeat)
    wall, peak = statistics.median(walls), max(peaks)
    met = wall < 2.0 and peak < 60 and len(programs) <= 2
    what = (
        f"`packtivity-util status DIR` of {label} steps (found by their directories)"
        if "status" in argv
        else f"`packtivity-checkproxy` of {label} proxies"
    )
    return Row(
        what, wall, "one `squeue` of those jobs", raw,
        "under 2 s, 60 MiB, 2 scheduler commands", met,
        note=f"peak {peak:.0f} MiB; scheduler programs run: {', '.join(programs) or 'none'}",
    )  # fmt: skip


class CountingCommands:
    """Runs a command with ``squeue``, ``sacct`` and ``scontrol`` on PATH replaced by wrappers
    that log each call and run the real one: the scheduler commands are counted from outside."""

    def __init__(self, bindir: Path) -> None:
        bindir.mkdir(exist_ok=True)
        self.log = bindir / "calls.log"
        for command in ("squeue", "sacct", "scontrol"):
            real = shutil.which(command)
            wrapper = bindir / command
            wrapper.write_text(f'#!/bin/sh\necho {command} >>{self.log}\nexec {real} "$@"\n')
            wrapper.chmod(0o755)
        self.env = {"PATH": f"{bindir}:{os.environ['PATH']}"}

    def run(self, argv: list[str]) -> tuple[float, float, list[str]]:
        """Wall seconds, peak memory (MiB) and the scheduler commands of one run of ``argv``."""
        self.log.write_text("")
        wall, peak, code = run_measured(argv, self.env)
        if code not in (0, 1):  # 1: a step failed, which is a valid answer
            raise RuntimeError(f"{argv[0]} failed ({code})")
        return wall, peak, self.log.read_text().split()


# ---- 6. throughput ---------------------------------------------------------------------------


def throughput(count: int) -> list[Row]:
    """``count`` trivial steps through Slurm, first submission to last result published, against
    ``count`` raw ``sbatch`` jobs waited for with one ``squeue`` loop, and against submitit.
    The finished proxies are then checked with ``packtivity-checkproxy`` (they publish).
    Each run is minutes of Slurm time: one run of each."""
    with scratch("throughput") as directory, cancelled_afterwards() as ids:
        script = raw_script(directory)
        start = time.perf_counter()
        raw_ids = [sbatch(script, hold=False) for _ in range(count)]
        ids.extend(raw_ids)
        wait_for_queue_to_empty(raw_ids)
        raw = time.perf_counter() - start

        backend = slurm_backend()
        start = time.perf_counter()
        proxies = [
            backend.submit(TRIVIAL_SPEC, {}, state_in(directory, f"w{i}"), {"name": "t"})
            for i in range(count)
        ]
        ids.extend(proxy.native_id for proxy in proxies)
        pending = list(proxies)
        while pending:
            pending = [proxy for proxy in pending if not backend.ready(proxy)]
            if pending:
                time.sleep(0.2)
        failed = [proxy.native_id for proxy in proxies if not backend.successful(proxy)]
        if failed:
            raise RuntimeError(f"benchmark jobs failed: {failed[:5]}")
        for proxy in proxies:
            backend.result(proxy)
        ours = time.perf_counter() - start
        commands = backend.poller.commands_run

        submitit = _submitit_seconds(directory / "submitit", count)

        paths = []
        for i, proxy in enumerate(proxies):
            paths.append(directory / f"p{i}.json")
            paths[-1].write_text(json.dumps(proxy.json()))
        finished = _checkproxy_row(
            f"{count} finished", paths, [p.native_id for p in proxies], directory, 3
        )
    return [
        Row(
            f"{count} trivial steps, submitted to all published", ours,
            "raw `sbatch` + one `squeue` loop", raw, "within 1.1x", ours <= 1.1 * raw,
            note=f"{commands} scheduler commands in all",
        ),
        Row(
            f"{count} trivial steps, submitted to all published", ours,
            f"submitit {SUBMITIT.split('==')[1]}, one `submit` per job", submitit, "-", None,
            note="the reference users know; the issue sets no target against it",
        ),
        finished,
    ]  # fmt: skip


def _submitit_seconds(folder: Path, count: int) -> float:
    python = venv_bin(SUBMITIT, "python")
    script = Path(__file__).resolve().parent / "submitit_jobs.py"
    done = run([str(python), str(script), str(folder), str(count)])
    return float(json.loads(done.stdout.strip().splitlines()[-1])["total"])


# ---- 7. SSH ----------------------------------------------------------------------------------


def ssh_submission(count: int) -> Row:
    """``count`` submissions through ``--ssh`` (one connection, its set-up included) against
    ``ssh cluster sbatch ...`` with OpenSSH, a new connection each time."""
    env = os.environ
    shared = env["PACKTIVITY_TEST_SHARED_DIR"]
    with scratch("ssh", base=shared) as directory, cancelled_afterwards() as ids:
        home = directory / "home"
        (home / ".ssh").mkdir(parents=True)
        shutil.copy(env["PACKTIVITY_TEST_SSH_KNOWN_HOSTS"], home / ".ssh" / "known_hosts")
        config = home / ".ssh" / "config"
        config.write_text(
            "Host benchcluster\n"
            f"  HostName {env['PACKTIVITY_TEST_SSH_HOST']}\n"
            f"  Port {env['PACKTIVITY_TEST_SSH_PORT']}\n  User {env['PACKTIVITY_TEST_SSH_USER']}\n"
            f"  IdentityFile {env['PACKTIVITY_TEST_SSH_KEY']}\n"
            f"  UserKnownHostsFile {home / '.ssh' / 'known_hosts'}\n  BatchMode yes\n"
        )
        script = raw_script(directory)
        openssh = ["ssh", "-F", str(config), "benchcluster"]
        start = time.perf_counter()
        for _ in range(count):
            ids.append(run([*openssh, *sbatch_argv(script)]).stdout.strip().split(";")[0])
        raw = (time.perf_counter() - start) / count

        previous_home = env["HOME"]
        env["HOME"] = str(home)
        try:
            start = time.perf_counter()
            backend = slurm_backend(ssh="benchcluster", scheduler_option=(f"begin={HOLD}",))
            for i in range(count):
                proxy = backend.submit(TRIVIAL_SPEC, {}, state_in(directory, f"w{i}"), None)
                ids.append(proxy.native_id)
            ours = (time.perf_counter() - start) / count
        finally:
            env["HOME"] = previous_home
    return Row(
        f"{count} submissions over SSH (per job)", ours, "`ssh cluster sbatch ...` (OpenSSH)",
        raw, "faster", ours < raw,
        note="one connection; its set-up is included",
    )  # fmt: skip


# ---- end detection (issue 19) ----------------------------------------------------------------


def end_detection(lengths: tuple[int, ...] = (5, 40, 100)) -> list[Row]:
    """Three ``packtivity-run -b slurm`` waits side by side on steps of ``lengths`` seconds:
    how late each learns that its step ended (the CLI's exit against the moment the step's
    command finished, which the step writes with ``date +%s.%N``), and how many scheduler
    programs the three ran per 10 s.  Reference: ``sbatch --wait`` of the same commands, side
    by side in the same run.  (Nextflow polls every 5 s: 2.5 s late on average.)"""
    with scratch("end-detection") as directory:
        spec = directory / "sleep.yml"
        spec.write_text(
            "process: {process_type: string-interpolated-cmd, "
            "cmd: 'sleep {seconds}; date +%s.%N > {end}'}\n"
            "environment: {environment_type: localproc-env}\n"
            "publisher: {publisher_type: constant-pub, publish: {}}\n"
        )
        counting = CountingCommands(directory / "bin")
        counting.log.write_text("")
        env = {**os.environ, **counting.env}
        started = time.time()
        runs = []
        for seconds in lengths:
            work = directory / f"ours-{seconds}"
            argv = [str(BIN / "packtivity-run"), "-t", str(directory), "sleep.yml", "-b", "slurm",
                    "-p", f"seconds={seconds}", "-p", "end={workdir}/end.txt",
                    "-w", str(work)]  # fmt: skip
            runs.append((work, subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)))  # fmt: skip
        ours = _lateness(runs)
        programs = len(counting.log.read_text().split())
        per_10s = programs / (time.time() - started) * 10
        references = []
        for seconds in lengths:
            work = directory / f"sbatch-{seconds}"
            work.mkdir()
            argv = ["sbatch", "--wait", "--quiet", "-o", "/dev/null", "-D", str(work),
                    "--wrap", f"sleep {seconds}; date +%s.%N > {work}/end.txt"]  # fmt: skip
            references.append((work, subprocess.Popen(argv, stdout=subprocess.DEVNULL)))
        theirs = _lateness(references)
    rows = [
        Row(f"end of a {seconds} s step reported by `packtivity-run -b slurm`, late by", late,
            "`sbatch --wait`", reference, "within 2 s", late <= 2.0)
        for seconds, late, reference in zip(lengths, ours, theirs)
    ]  # fmt: skip
    rows.append(
        Row(
            "scheduler programs per 10 s, three waits side by side",
            per_10s,
            "-",
            None,
            "at most 1 per 30 s per process once running",
            None,
            unit="",
            note=f"{programs} in all (squeue/sacct/scontrol, counted by wrappers)",
        )  # fmt: skip
    )
    return rows


def _lateness(runs: list[tuple[Path, Any]]) -> list[float]:
    """For each ``(work, process)``: seconds between the step's own end (``work/end.txt``) and
    the process exiting (every 50 ms each is looked at, in whatever order they end)."""
    exited: dict[int, float] = {}
    deadline = time.time() + 900
    while len(exited) < len(runs) and time.time() < deadline:
        for index, (_, process) in enumerate(runs):
            if index not in exited and process.poll() is not None:
                exited[index] = time.time()
        time.sleep(0.05)
    return [exited[i] - float((work / "end.txt").read_text()) for i, (work, _) in enumerate(runs)]


# ---- 9. a site's submit limit ----------------------------------------------------------------

WORKFLOWS = Path(__file__).resolve().parents[1] / "tests" / "workflows"


def scatter_under_a_submit_limit(items: int = 500, limit: int = 50) -> list[Row]:
    """A yadage map over ``items`` trivial steps with ``-b slurm``, as the test cluster's QOS
    allows it (no limit), then with ``MaxSubmitJobsPerUser=limit`` on QOS normal (set with
    ``sacctmgr``, cleared afterwards): wall time of each, and the most of this user's jobs seen
    pending or running (``squeue`` every 0.5 s).  Default ``queue_size`` (100) in both."""
    rows = []
    seconds: dict[str, float] = {}
    for label, qos_limit in (("no limit", -1), (f"MaxSubmitJobsPerUser={limit}", limit)):
        _set_submit_limit(qos_limit)
        try:
            with scratch("scatter") as directory:
                most, refusals, elapsed = _yadage_scatter(directory, items)
        finally:
            _set_submit_limit(-1)
        seconds[label] = elapsed
        rows.append((label, elapsed, most, refusals))
    unlimited = seconds["no limit"]
    return [
        Row(
            f"{items}-step yadage scatter, `-b slurm`, QOS {label}", elapsed,
            "the same scatter without a QOS limit", unlimited if label != "no limit" else None,
            "all succeed, never more than the limit queued", True,
            note=f"most queued {most}; {refusals} refusals held, none failed",
        )
        for label, elapsed, most, refusals in rows
    ]  # fmt: skip


def _set_submit_limit(limit: int) -> None:
    subprocess.run(
        ["sacctmgr", "-i", "-Q", "modify", "qos", "normal", "set", f"MaxSubmitJobsPerUser={limit}"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _yadage_scatter(directory: Path, items: int) -> tuple[int, int, float]:
    """(most jobs queued, refusals logged, seconds) of one yadage run of the map/reduce."""
    argv = [str(BIN / "yadage-run"), "-t", str(WORKFLOWS), str(directory / "work"),
            "mapreduce.yml", "-b", "slurm", "-p", f"items={list(range(1, items + 1))}"]  # fmt: skip
    most = 0
    start = time.perf_counter()
    with open(directory / "yadage.log", "w") as log:
        process = subprocess.Popen(argv, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            queued = subprocess.run(["squeue", "-h", "--me", "-t", "PENDING,RUNNING", "-o", "%i"],
                                    capture_output=True, text=True).stdout.split()  # fmt: skip
            most = max(most, len(queued))
            time.sleep(0.5)
    elapsed = time.perf_counter() - start
    text = (directory / "yadage.log").read_text()
    total = (directory / "work" / "reduce" / "total.txt").read_text().strip()
    if process.returncode != 0 or total != str(sum(n * n for n in range(1, items + 1))):
        raise RuntimeError(f"the scatter failed (exit {process.returncode}): {text[-2000:]}")
    return most, text.count("refused a job for a limit"), elapsed
