"""Hostile and broken input, and faults (issue 18): every case ends in success, a failed step
(exit 1 with its tail), or one line naming the input and what is wrong (exit 2, or the
documented infrastructure code): never ``Error: unexpected``, never a hang, never a signal
to a process that is not the job.  Cases that need no test cluster."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, assert_one_line_error_any
from stepspecs import host_spec, write_spec


def run(cli, tmp_path: Path, spec: dict, *args: str, timeout: float = 120):
    write_spec(tmp_path, "step.yml", spec)
    return cli("packtivity-run", "-t", str(tmp_path), "step.yml", *args, timeout=timeout)


def _lstart(pid: int) -> str:
    return subprocess.run(
        ["env", "LC_ALL=C", "ps", "-o", "lstart=", "-p", str(pid)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


# ---- a proxy never leads to signalling what is not its job --------------------------------


def test_local_proxy_ids_that_would_signal_the_machine_or_the_caller_are_refused(
    cli, tmp_path: Path
) -> None:
    """``kill -- -1`` (as root: every process) and ``kill -- -0`` (the caller's own process
    group) must never come from a proxy: such ids are not ids."""
    r = run(
        cli, tmp_path, host_spec("sleep 30"), "-b", "local", "--async", "-w", str(tmp_path / "w")
    )
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "proxy.json").read_text())
    real_id = proxy["proxydetails"]["native_id"]
    try:
        for forged in ("1", "0", "1@x", "0@x", "-1@x", "$(touch x)@y", real_id + " -1"):
            proxy["proxydetails"]["native_id"] = forged
            (tmp_path / "forged.json").write_text(json.dumps(proxy))
            c = cli("packtivity-checkproxy", "--cancel", "forged.json", cwd=tmp_path)
            assert_one_line_error(c, "forged.json", "not a local job id")
    finally:
        proxy["proxydetails"]["native_id"] = real_id
        (tmp_path / "proxy.json").write_text(json.dumps(proxy))
        cli("packtivity-checkproxy", "--cancel", "proxy.json", cwd=tmp_path)
    assert not (tmp_path / "x").exists()


def test_a_reused_process_id_is_neither_reported_as_the_job_nor_signalled(
    cli, tmp_path: Path
) -> None:
    """A finished job's process id now belongs to an unrelated process (here: this test's own
    ``sleep``, a stand-in for whatever the system gave the id to): the proxy reports the job
    as ended without its record, and ``--cancel`` leaves that process alone."""
    r = run(cli, tmp_path, host_spec("true"), "-b", "local", "--async", "-w", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    time.sleep(1.1)  # a reused id belongs to a later process (start times have 1 s resolution)
    unrelated = subprocess.Popen(["setsid", "sleep", "60"])
    try:
        proxy = json.loads((tmp_path / "proxy.json").read_text())
        _, _, start = proxy["proxydetails"]["native_id"].partition("@")
        proxy["proxydetails"]["native_id"] = f"{unrelated.pid}@{start}"  # the id, reused
        for path in (tmp_path / "w" / "_packtivity").glob("*.run.json"):
            path.unlink()  # as if the job had been killed before its record
        (tmp_path / "reused.json").write_text(json.dumps(proxy))
        c = cli("packtivity-checkproxy", "reused.json", cwd=tmp_path)
        assert c.returncode == 1 and "status: running" not in c.stdout, c.stdout
        assert "reused" in c.stdout
        cancel = cli("packtivity-checkproxy", "--cancel", "reused.json", cwd=tmp_path)
        assert cancel.returncode != 0 and "another process" in cancel.stderr
        assert unrelated.poll() is None  # never signalled
        assert _lstart(unrelated.pid)
    finally:
        unrelated.kill()
        unrelated.wait()


# ---- targets and output files ---------------------------------------------------------------


def test_an_empty_ssh_target_is_bad_input_not_this_machine(cli, tmp_path: Path) -> None:
    """``--ssh "$CLUSTER"`` with ``CLUSTER`` unset must not run the cluster's job here."""
    marker = tmp_path / "ran-here"
    for target in ("", "  "):
        r = run(cli, tmp_path, host_spec(f"touch {marker}"), "-b", "local", "--ssh", target)
        assert_one_line_error(r, "--ssh", "empty")
    assert not marker.exists()


def test_output_files_are_written_through_links_and_to_devices(cli, tmp_path: Path) -> None:
    """``-o`` onto a symbolic link writes the link's target and keeps the link; onto a
    character device (``/dev/null``, as root too) writes to the device and keeps it a device."""
    import os
    import stat

    target = tmp_path / "results" / "result.json"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "result-link.json"
    link.symlink_to(target)
    spec = host_spec("true", {"answer": "{x}"})
    r = run(cli, tmp_path, spec, "-p", "x=42", "-o", str(link), "-w", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and json.loads(target.read_text()) == {"answer": "42"}
    r = run(cli, tmp_path, spec, "-p", "x=42", "-o", "/dev/null", "-w", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = run(cli, tmp_path, spec, "-p", "x=42", "-o", str(fifo), "-w", str(tmp_path / "w"))
    assert_one_line_error(r, "fifo", "not a regular file")


# ---- signals: a stopped step still writes its run record ----------------------------------


def _start_local_step(tmp_path: Path, command: str) -> subprocess.Popen:
    import sys

    write_spec(tmp_path, "step.yml", host_spec(command))
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "packtivity-run"), "-t", str(tmp_path), "step.yml",
         "-w", str(tmp_path / "w")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own group: signalling it reaches nothing of this test's
        preexec_fn=_default_stop_signals,
    )  # fmt: skip


def _default_stop_signals() -> None:
    """In the child, before exec: SIGHUP and SIGINT back to their defaults.  A run under
    ``nohup`` (or a shell's background job) starts with them ignored, children inherit that,
    and packtivity rightly keeps ignoring them then: the HUP cases would test nothing."""
    import signal

    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_step_start(tmp_path: Path, marker: str) -> None:
    deadline = time.monotonic() + 30
    while not (tmp_path / "w" / marker).exists():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)


@pytest.mark.parametrize("target", ["packtivity-run alone", "its process group"])
@pytest.mark.parametrize("signame", ["TERM", "HUP"])
def test_a_stopped_local_step_ends_with_its_code_a_line_and_its_record(
    tmp_path: Path, target: str, signame: str
) -> None:
    """SIGTERM/SIGHUP to ``packtivity-run`` (or to its whole process group, as a closed
    terminal or a batch system does) while a local step runs: the step is stopped, its run
    record is written, and the command exits 128+N with one line saying so."""
    import os
    import signal

    signum = getattr(signal, f"SIG{signame}")
    for trial in range(3):  # the record was missing in 3 of 10 trials before
        work = tmp_path / f"t{trial}"
        work.mkdir()
        run = _start_local_step(work, "touch started; sleep 60; touch finished")
        try:
            _wait_for_step_start(work, "started")
            if target == "its process group":
                os.killpg(run.pid, signum)
            else:
                os.kill(run.pid, signum)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        assert run.returncode == 128 + signum, (run.returncode, err)
        lines = [line for line in err.splitlines() if line.startswith("Error:")]
        assert lines == [f"Error: stopped by SIG{signame}"], err
        assert "Traceback" not in err
        (record_file,) = (work / "w" / "_packtivity").glob("*.run.json")
        record = json.loads(record_file.read_text())
        assert record["signal"] == signame, record
        assert not (work / "w" / "finished").exists()


# ---- files a user names: one guarded reader ------------------------------------------------

GOOD_SPEC = (
    "process: {process_type: string-interpolated-cmd, cmd: 'echo {message} > {outputfile}'}\n"
    "environment: {environment_type: localproc-env}\n"
    "publisher: {publisher_type: frompar-pub, outputmap: {output: outputfile}}\n"
)
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n"
    for i in range(8)
)  # 9^9 leaves in 600 bytes
DEEP = "x: " + "[" * 5000 + "]" * 5000 + "\n"
LATIN1 = "process: {cmd: 'caf\xe9'}\n".encode("latin-1")

#: (id, file contents by name: bytes/str, "DIR", "FIFO"), arguments, fragments of the line)
FILE_CASES = [
    ("spec-random-bytes", {"s.yml": bytes(range(256)) * 4}, ["s.yml"], ["s.yml", "UTF-8"]),
    ("spec-latin1", {"s.yml": LATIN1}, ["s.yml"], ["s.yml", "not UTF-8"]),
    ("spec-directory", {"s.yml": "DIR"}, ["s.yml"], ["s.yml", "directory"]),
    ("spec-fifo", {"s.yml": "FIFO"}, ["s.yml"], ["s.yml", "not a regular file"]),
    ("spec-device", {}, ["-t", "/dev", "zero"], ["/dev/zero", "not a regular file"]),
    ("spec-alias-bomb", {"s.yml": BOMB}, ["s.yml"], ["s.yml", "aliases expanded"]),
    ("spec-deep", {"s.yml": DEEP}, ["s.yml"], ["s.yml", "deep"]),
    ("spec-a-list", {"s.yml": "[1, 2]\n"}, ["s.yml"], ["s.yml", "mapping"]),
    ("parameters-bytes", {"s.yml": GOOD_SPEC, "p.yml": bytes(range(256))}, ["s.yml", "p.yml"],
     ["p.yml", "UTF-8"]),
    ("parameters-directory", {"s.yml": GOOD_SPEC, "p.yml": "DIR"}, ["s.yml", "p.yml"],
     ["p.yml", "directory"]),
    ("parameters-a-list", {"s.yml": GOOD_SPEC, "p.yml": "[a, b]\n"}, ["s.yml", "p.yml"],
     ["p.yml", "mapping"]),
    ("parameters-bomb", {"s.yml": GOOD_SPEC, "p.yml": BOMB}, ["s.yml", "p.yml"],
     ["p.yml", "aliases"]),
    ("parameters-binary-tag", {"s.yml": GOOD_SPEC, "p.yml": "message: !!binary aGk=\n"},
     ["s.yml", "p.yml"], ["p.yml", "JSON"]),
    ("parameters-set-tag", {"s.yml": GOOD_SPEC, "p.yml": "message: !!set {a}\n"},
     ["s.yml", "p.yml"], ["p.yml", "JSON"]),
    ("state-a-string", {"s.yml": GOOD_SPEC, "st.yml": "just text\n"}, ["s.yml", "-s", "st.yml"],
     ["st.yml", "mapping"]),
    ("state-bytes", {"s.yml": GOOD_SPEC, "st.yml": b"\xff\xfe"}, ["s.yml", "-s", "st.yml"],
     ["st.yml", "UTF-8"]),
]  # fmt: skip


def _make_files(tmp_path: Path, files: dict) -> None:
    import os

    for name, content in files.items():
        path = tmp_path / name
        if content == "DIR":
            path.mkdir()
        elif content == "FIFO":
            os.mkfifo(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.parametrize(
    "files, arguments, fragments", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_a_bad_file_is_one_line_naming_it(cli, tmp_path: Path, files, arguments, fragments):
    """Every file a user names is read by one guarded reader: nothing blocks (FIFOs, devices),
    nothing explodes (alias bombs, deep nesting), and the line names the file and the fault."""
    _make_files(tmp_path, files)
    options = ["-p", "message=hi", "-p", "outputfile={workdir}/o", "-w", str(tmp_path / "w")]
    toplevel = [] if arguments[0] == "-t" else ["-t", str(tmp_path)]
    r = cli("packtivity-run", *toplevel, *arguments, *options, cwd=tmp_path, timeout=60)
    assert_one_line_error(r, *fragments)


def test_validate_tells_an_invalid_spec_from_one_it_cannot_read(cli, tmp_path: Path) -> None:
    """packtivity-validate: bytes that are no text are an invalid spec (1); a FIFO is a file
    it cannot check (2); neither blocks."""
    _make_files(tmp_path, {"latin1.yml": LATIN1, "bomb.yml": BOMB, "fifo.yml": "FIFO"})
    for name, code in (("latin1.yml", 1), ("bomb.yml", 1), ("fifo.yml", 2)):
        r = cli("packtivity-validate", "-t", str(tmp_path), name, cwd=tmp_path, timeout=60)
        assert r.returncode == code, (name, r.stderr)
        assert name in r.stderr and "Traceback" not in r.stderr


def test_yaml_dates_in_parameters_stay_text(cli, tmp_path: Path) -> None:
    """``-p day=2024-01-01`` is the text 2024-01-01 (JSON has no dates), not a crash."""
    write_spec(tmp_path, "step.yml", host_spec("true", {"day": "{day}"}))
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-p", "day=2024-01-01",
            "-w", str(tmp_path / "w"), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"day": "2024-01-01"}


def test_a_bad_proxy_file_is_one_line_naming_it(cli, tmp_path: Path) -> None:
    _make_files(
        tmp_path,
        {
            "bytes.json": bytes(range(256)),
            "dir.json": "DIR",
            "fifo.json": "FIFO",
            "list.json": "[1, 2]",
            "deep.json": "[" * 100000 + "]" * 100000,
            "missing-keys.json": json.dumps({"proxyname": "BatchProxy", "proxydetails": {}}),
            "no-name.json": json.dumps({"proxydetails": {}}),
        },
    )
    for name in ("bytes.json", "dir.json", "fifo.json", "list.json", "deep.json",
                 "missing-keys.json", "no-name.json"):  # fmt: skip
        r = cli("packtivity-checkproxy", name, cwd=tmp_path, timeout=60)
        assert_one_line_error(r, name)


# ---- backends, environment variables, templates, state directories -------------------------

NO_PUBLISHER = (
    "process: {process_type: string-interpolated-cmd, cmd: 'true'}\n"
    "environment: {environment_type: localproc-env}\n"
)
BAD_TEMPLATE = (
    "process: {process_type: string-interpolated-cmd, cmd: 'echo {message[x]}'}\n"
    "environment: {environment_type: localproc-env}\n"
    "publisher: {publisher_type: constant-pub, publish: {}}\n"
)

FROMPAR_MISSING = (
    "process: {process_type: string-interpolated-cmd, cmd: 'true'}\n"
    "environment: {environment_type: localproc-env}\n"
    "publisher: {publisher_type: frompar-pub, outputmap: {out: nothere}}\n"
)

#: (id, extra arguments, environment, extra files, fragments of the one line)
INPUT_CASES = [
    ("backend-a-module", ["-b", "py:os:path"], {}, {}, ["os:path", "not a backend class"]),
    ("backend-not-a-backend", ["-b", "py:collections:OrderedDict"], {}, {},
     ["collections:OrderedDict", "not a backend"]),
    ("backend-superscript-size", ["-b", "multiproc:²"], {}, {}, ["multiproc:²"]),
    ("backend-fromenv-module", ["-b", "fromenv"], {"PACKTIVITY_ASYNCBACKEND": "os:path:x"}, {},
     ["os:path", "not a backend class"]),
    ("backend-options-config-5", ["-b", "foregroundasync"],
     {"PACKTIVITY_ASYNCBACKEND_OPTS": "opts.yml"}, {"opts.yml": "{config: 5}\n"},
     ["'config'", "mapping"]),
    ("dryrun-garbage", [], {"PACKTIVITY_DRYRUN": "["}, {}, ["PACKTIVITY_DRYRUN"]),
    ("logging-handler-garbage", [], {"PACKTIVITY_LOGGING_HANDLER": "garbage"}, {},
     ["PACKTIVITY_LOGGING_HANDLER"]),
    ("logging-handler-missing", [], {"PACKTIVITY_LOGGING_HANDLER": "os:nothing"}, {},
     ["PACKTIVITY_LOGGING_HANDLER", "nothing"]),
    ("syncconfig-missing", [], {"PACKTIVITY_SYNCCONFIGFILE": "/nonexistent/x.yml"}, {},
     ["PACKTIVITY_SYNCCONFIGFILE", "does not exist"]),
    ("syncconfig-a-list", [], {"PACKTIVITY_SYNCCONFIGFILE": "sc.yml"}, {"sc.yml": "[1]\n"},
     ["PACKTIVITY_SYNCCONFIGFILE", "mapping"]),
    ("workdir-a-file", ["-w", "afile"], {}, {"afile": "x"}, ["afile", "not a directory"]),
    ("workdir-under-proc", ["-w", "/proc/packtivity-x"], {}, {}, ["/proc/packtivity-x"]),
    ("template-subscript", ["-t", ".", "bad.yml"], {}, {"bad.yml": BAD_TEMPLATE},
     ["template", "message[x]"]),
    ("no-validate-no-publisher", ["-t", ".", "nopub.yml", "--no-validate"], {},
     {"nopub.yml": NO_PUBLISHER}, ["nopub.yml", "publisher"]),
    ("config-profiles-a-list", ["-b", "local", "--show-script"],
     {"PACKTIVITY_CONFIG": "config.yml"}, {"config.yml": "profiles: [a, b]\n"},
     ["config.yml", "profiles"]),
    ("ssh-in-config-empty", ["-b", "local"], {"PACKTIVITY_CONFIG": "config.yml"},
     {"config.yml": "ssh: ''\n"}, ["config.yml", "ssh"]),
    ("frompar-missing-parameter", ["-t", ".", "fp.yml"], {}, {"fp.yml": FROMPAR_MISSING},
     ["frompar-pub", "'nothere'"]),
    ("walltime-overflow", ["-b", "slurm", "--show-script", "--walltime", "9" * 20], {}, {},
     ["walltime", "9" * 20]),
    ("cpus-overflow", ["-b", "slurm", "--show-script", "--cpus", "9" * 20], {}, {},
     ["cpus", "at most"]),
    ("memory-overflow", ["-b", "slurm", "--show-script", "--memory", "9" * 50], {}, {},
     ["memory", "more than any machine"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "arguments, environment, files, fragments",
    [c[1:] for c in INPUT_CASES],
    ids=[c[0] for c in INPUT_CASES],
)
def test_bad_input_is_one_line_naming_it(
    cli, specs: Path, tmp_path: Path, arguments, environment, files, fragments
) -> None:
    _make_files(tmp_path, files)
    spec = [] if "-t" in arguments else ["-t", str(specs), "cmd.yml"]
    workdir = [] if "-w" in arguments else ["-w", str(tmp_path / "w")]
    r = cli("packtivity-run", *spec, *arguments, "-p", "message=hi",
            "-p", "outputfile={workdir}/o", *workdir, cwd=tmp_path, env=environment)  # fmt: skip
    assert_one_line_error(r, *fragments)


def test_scheduler_commands_missing_from_the_machine_are_one_line(cli, tmp_path: Path) -> None:
    """``-b slurm`` where there is no Slurm: submitting, checking and cancelling each name the
    command that is missing (PATH holds only the shell tools a step needs)."""
    import shutil

    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "env", "ps", "cat", "mkdir", "date", "rm", "mv", "tr"):
        (tools / tool).symlink_to(shutil.which(tool))
    environment = {"PATH": str(tools)}
    write_spec(tmp_path, "step.yml", host_spec("true"))
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "slurm", "--async",
            "-w", str(tmp_path / "w"), cwd=tmp_path, env=environment)  # fmt: skip
    assert_one_line_error(r, "'sbatch' is not on the PATH")
    proxy = {"proxyname": "BatchProxy", "proxydetails": {
        "backend": "slurm", "native_id": "123", "step": "s", "spec": {}, "parameters": {},
        "state": {"state_type": "localfs", "identifier": "x", "readwrite": [], "readonly": []},
        "record": str(tmp_path / "r.json")}}  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(proxy))
    checked = cli("packtivity-checkproxy", "p.json", cwd=tmp_path, env=environment)
    assert_one_line_error(checked, "'squeue' is not on the PATH")
    cancelled = cli("packtivity-checkproxy", "--cancel", "p.json", cwd=tmp_path, env=environment)
    assert_one_line_error(cancelled, "'scancel' is not on the PATH")


# ---- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 1 MiB tmpfs on ``tmp_path/full``, filled up (needs root: CI and ./dev test run as
    root; the unit run leaves this out)."""
    import os

    if os.geteuid() != 0:
        pytest.fail("a full disk is made with a tmpfs mount, which needs root")
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "packtivity-test", str(mount)],
                   check=True)  # fmt: skip
    try:
        (mount / "w" / "_packtivity").mkdir(parents=True)
        (mount / "result.json").write_text('{"kept": "the old result"}\n')
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(filler)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.integration  # needs root for the tmpfs
def test_a_full_disk_is_one_line_and_nothing_half_written(cli, tmp_path: Path, full_disk):
    """The step's work directory on a full disk, and the result file there: one line naming
    what could not be written, exit 3 (the storage, not the input), no traceback, the old
    result file intact."""
    write_spec(tmp_path, "step.yml", host_spec("echo hi > out.txt", {"x": "{workdir}/out.txt"}))
    in_full_workdir = cli("packtivity-run", "-t", str(tmp_path), "step.yml",
                          "-w", str(full_disk / "w"), cwd=tmp_path)  # fmt: skip
    assert in_full_workdir.returncode == 3, in_full_workdir.stderr
    errors = [line for line in in_full_workdir.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], in_full_workdir.stderr
    assert str(full_disk) in errors[0] and "Traceback" not in in_full_workdir.stderr
    result_on_full = cli("packtivity-run", "-t", str(tmp_path), "step.yml",
                         "-w", str(tmp_path / "w"), "-o", str(full_disk / "result.json"),
                         cwd=tmp_path)  # fmt: skip
    assert result_on_full.returncode == 3, result_on_full.stderr
    assert_one_line_error_any(result_on_full, "result.json", "No space left on device")
    assert json.loads((full_disk / "result.json").read_text()) == {"kept": "the old result"}
    assert not list(full_disk.glob(".result.json.*"))  # no temporary file left behind
