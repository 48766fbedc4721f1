"""Submitting from a laptop: every batch backend over SSH (paramiko), against the test cluster's
real sshd on 127.0.0.1 as its non-root user (``packtivity``), with strict host keys.

The "laptop" is this test process with its own ``HOME``: an ``~/.ssh/config`` alias
``testcluster`` (HostName, Port, User, IdentityFile, UserKnownHostsFile), nothing else.  Jobs
run as the cluster user, which proves that nothing ran on the laptop side: the files the steps
write belong to that user.  Laptop and cluster share one disk here, so the tests can look at
the cluster's files directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BIN, Cluster, assert_one_line_error
from stepspecs import container_spec, host_spec, write_spec

HERE = Path(__file__).parent


@dataclass
class Laptop:
    home: Path
    known_hosts: Path
    work: Path  #: a fresh directory on the cluster's shared storage
    cluster_uid: int
    cluster: Cluster

    def sshd_logins(self) -> int:
        """Logins the test sshd has logged so far (its log is the cluster's)."""
        log = Path(self.cluster.ssh_known_hosts).parent.parent / "log" / "sshd.log"
        return log.read_text(errors="replace").count(
            f"Accepted publickey for {self.cluster.ssh_user}"
        )


@pytest.fixture
def laptop(ssh: Cluster, shared_workdir: Path, tmp_path: Path, monkeypatch) -> Laptop:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    known_hosts = home / ".ssh" / "known_hosts"
    known_hosts.write_text(Path(ssh.ssh_known_hosts).read_text())
    (home / ".ssh" / "config").write_text(
        "Host testcluster\n"
        f"  HostName {ssh.ssh_host}\n  Port {ssh.ssh_port}\n  User {ssh.ssh_user}\n"
        f"  IdentityFile {ssh.ssh_key}\n  UserKnownHostsFile {known_hosts}\n"
        "Host viajump\n"
        f"  HostName {ssh.ssh_host}\n  Port {ssh.ssh_port}\n  User {ssh.ssh_user}\n"
        f"  IdentityFile {ssh.ssh_key}\n  UserKnownHostsFile {known_hosts}\n"
        "  ProxyJump testcluster\n"
        "Host twofactor\n"
        f"  HostName {ssh.ssh_host}\n  Port {ssh.ssh_2fa_port}\n  User {ssh.ssh_user}\n"
        f"  IdentityFile {ssh.ssh_key}\n  UserKnownHostsFile {known_hosts}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    # the image settings are paths on the cluster: its shared storage, its test images
    image_map = shared_workdir / "images.yml"
    image_map.write_text(
        f"busybox:1.36: {ssh.image('busybox')}\npython:3.11-slim: {ssh.image('python')}\n"
    )
    monkeypatch.setenv("PACKTIVITY_APPTAINER_IMAGE_MAP", str(image_map))
    monkeypatch.setenv("PACKTIVITY_APPTAINER_CACHEDIR", str(shared_workdir / "sif-cache"))
    return Laptop(home, known_hosts, shared_workdir, pwd.getpwnam(ssh.ssh_user).pw_uid, ssh)


def run(cli, tmp_path: Path, spec: dict, *args: str, timeout: float = 180):
    write_spec(tmp_path, "step.yml", spec)
    return cli("packtivity-run", "-t", str(tmp_path), "step.yml", *args, timeout=timeout)


def payload_spec() -> dict:
    """A container step that writes parameter ``msg`` verbatim (a quoted here-document)."""
    return container_spec(
        "busybox",
        {
            "process_type": "interpolated-script-cmd",
            "interpreter": "sh",
            "script": "cat > out.txt <<'PAYLOAD'\n{msg}\nPAYLOAD\nid -un > who.txt\n",
        },
        {"out": "{workdir}/out.txt"},
        imagetag="1.36",
    )


@pytest.mark.parametrize("backend", ["slurm", "local", "pbs"])
def test_submit_wait_publish_over_ssh(laptop: Laptop, apptainer, cli, tmp_path, backend) -> None:
    """A container step through ``--ssh testcluster``: the work directory's path has a space and
    ``$(...)``, the parameter has spaces and ``$(touch ...)``; both arrive verbatim and nothing
    is executed, on the cluster or here."""
    marker = f"pwned-{uuid.uuid4().hex[:8]}"
    workdir = laptop.work / f"w {backend} $(touch /tmp/{marker})"
    message = f"two  spaces $(touch /tmp/{marker}) `touch /tmp/{marker}` ; exit 9"
    r = run(
        cli, tmp_path, payload_spec(), "-b", backend, "--ssh", "testcluster",
        "-p", f"msg={message}", "-w", str(workdir),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": f"{workdir}/out.txt"}
    assert (workdir / "out.txt").read_text() == message + "\n"
    assert (workdir / "who.txt").read_text().strip() == pwd.getpwuid(laptop.cluster_uid).pw_name
    assert (workdir / "out.txt").stat().st_uid == laptop.cluster_uid  # ran as the cluster user
    assert not Path(f"/tmp/{marker}").exists()
    (record_file,) = (workdir / "_packtivity").glob("packtivity-*.run.json")
    record = json.loads(record_file.read_text())
    assert record["exit_code"] == 0 and record["image"]["source"].startswith("image map")


def test_async_then_checkproxy_from_new_processes(laptop: Laptop, cli, tmp_path) -> None:
    """``--async`` writes a proxy naming the SSH target (and no secret); two new processes
    reconnect and print the same result; one login serves a checkproxy of three proxies."""
    spec = host_spec("sleep 2; echo {n} > {out}", {"n": "{n}", "o": "{out}"})
    for n in range(3):
        r = run(
            cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", "--async",
            "-x", f"p{n}.json", "-p", f"n={n}", "-p", "out={workdir}/o.txt",
            "-w", str(laptop.work / f"w{n}"),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    proxy_text = (tmp_path / "p0.json").read_text()
    details = json.loads(proxy_text)["proxydetails"]
    assert details["ssh"] == "testcluster"
    assert "PRIVATE KEY" not in proxy_text and "id_ed25519" not in proxy_text
    logins = laptop.sshd_logins()
    r = cli("packtivity-checkproxy", "--wait", "--json", "p0.json", "p1.json", "p2.json",
            cwd=tmp_path, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)["steps"]
    assert [step["result"] for step in report] == [
        {"n": str(n), "o": str(laptop.work / f"w{n}" / "o.txt")} for n in range(3)
    ]
    assert laptop.sshd_logins() == logins + 1  # one connection for all
    again = cli("packtivity-checkproxy", "p2.json", cwd=tmp_path)
    assert again.returncode == 0 and "successful: True" in again.stdout


def test_failed_job_reports_exit_code_and_stderr_over_ssh(laptop: Laptop, cli, tmp_path) -> None:
    spec = host_spec("echo 'cannot open calibration.db' >&2; exit 3")
    r = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", "-w", str(laptop.work))
    assert r.returncode == 1, r.stderr  # the step failed; its own exit code is in the message
    assert "failed with exit code 3" in r.stderr and "cannot open calibration.db" in r.stderr


def test_paths_are_resolved_on_the_cluster_not_on_the_laptop(laptop: Laptop, tmp_path) -> None:
    """``-w DIR`` with ``--ssh``: DIR is the cluster's path and only the cluster resolves it.

    The laptop runs in its own mount namespace (``unshare -m``) where DIR is a symbolic link to
    a directory the cluster does not have, as on a macOS laptop whose ``/tmp`` and ``/var`` are
    links into ``/private``; on the cluster DIR is a link to another directory.  The step must
    run in the cluster's target, and nothing may be created where the laptop's link points.
    """
    base = laptop.work / "paths"
    (base / "real").mkdir(parents=True)
    os.chown(base, laptop.cluster_uid, -1)
    os.chown(base / "real", laptop.cluster_uid, -1)
    (base / "data").symlink_to(base / "real")  # the cluster's view
    spec = host_spec("echo ran > out.txt", {"out": "{workdir}/out.txt"})
    write_spec(tmp_path, "step.yml", spec)
    laptop_view = (
        'mount -t tmpfs laptop "$1" && mkdir "$1/private-on-laptop" && '
        'ln -s "$1/private-on-laptop" "$1/data" && shift && exec "$@"'
    )
    r = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", laptop_view, "sh",
         str(base), str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml",
         "-b", "local", "--ssh", "testcluster", "-w", str(base / "data")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": f"{base}/real/out.txt"}
    assert (base / "real" / "out.txt").read_text() == "ran\n"
    assert not (base / "private-on-laptop").exists()


def test_grid_proxy_is_the_clusters_not_the_laptops(
    laptop: Laptop, apptainer, cli, tmp_path, monkeypatch
) -> None:
    """``X509_USER_PROXY`` set on the laptop names a laptop file: a container step over SSH
    must not get it.  The proxy comes from the cluster's environment or from configuration
    (``PACKTIVITY_X509_USER_PROXY``, a path on the cluster), and is then bound."""
    laptop_proxy = tmp_path / "x509up_laptop"
    laptop_proxy.write_text("laptop credentials\n")
    cluster_proxy = laptop.work / "x509up_cluster"
    cluster_proxy.write_text("cluster credentials\n")
    os.chown(cluster_proxy, laptop.cluster_uid, -1)
    monkeypatch.setenv("X509_USER_PROXY", str(laptop_proxy))
    spec = container_spec(
        "busybox",
        {
            "process_type": "string-interpolated-cmd",
            "cmd": 'echo "proxy=$X509_USER_PROXY" > seen.txt; cat "$X509_USER_PROXY" >> seen.txt || :',  # noqa: E501
        },
        imagetag="1.36",
    )
    ssh_args = ("-b", "local", "--ssh", "testcluster")
    unset = run(cli, tmp_path, spec, *ssh_args, "-w", str(laptop.work / "unset"))
    assert unset.returncode == 0, unset.stderr
    assert (laptop.work / "unset" / "seen.txt").read_text() == "proxy=\n"
    monkeypatch.setenv("PACKTIVITY_X509_USER_PROXY", str(cluster_proxy))
    configured = run(cli, tmp_path, spec, *ssh_args, "-w", str(laptop.work / "configured"))
    assert configured.returncode == 0, configured.stderr
    seen = (laptop.work / "configured" / "seen.txt").read_text()
    assert seen == f"proxy={cluster_proxy}\ncluster credentials\n"


def test_unknown_host_key_is_refused_unless_accepted(laptop: Laptop, cli, tmp_path) -> None:
    laptop.known_hosts.write_text("")
    spec = host_spec("true")
    refused = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", "-w", "/tmp")
    assert_one_line_error(refused, "not in", "ssh-keyscan -p", "--accept-new-host-key", "SHA256:")
    assert laptop.known_hosts.read_text() == ""
    accepted = run(
        cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", "--accept-new-host-key",
        "-w", str(laptop.work),
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert re.fullmatch(r"\[127\.0\.0\.1\]:\d+ ssh-ed25519 \S+\n", laptop.known_hosts.read_text())
    again = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", "-w", str(laptop.work))
    assert again.returncode == 0, again.stderr


def test_changed_host_key_is_refused_loudly(laptop: Laptop, cli, tmp_path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True
    )
    other = (tmp_path / "other.pub").read_text().split()[:2]
    name = laptop.known_hosts.read_text().split()[0]
    laptop.known_hosts.write_text(f"{name} {' '.join(other)}\n")
    before = laptop.known_hosts.read_text()
    spec = host_spec("true")
    for extra in ([], ["--accept-new-host-key"]):
        r = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", *extra, "-w", "/tmp")
        assert_one_line_error(r, "HAS CHANGED", "ssh-keygen -R")
    assert laptop.known_hosts.read_text() == before


def test_bad_ssh_targets_get_one_line(laptop: Laptop, cli, tmp_path) -> None:
    spec = host_spec("true")
    malformed = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "user@host:99999", "-w", "/tmp")
    assert_one_line_error(malformed, "port 99999")
    relative = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "testcluster", "-w", "work")
    assert_one_line_error(relative, "absolute")
    wrong_user = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "nobody@testcluster", "-w", "/")
    assert_one_line_error(wrong_user, "no credential was accepted")
    closed = run(cli, tmp_path, spec, "-b", "slurm", "--ssh", "127.0.0.1:1", "-w", "/tmp")
    assert closed.returncode == 3 and "cannot reach" in closed.stderr  # infrastructure
    assert "Traceback" not in closed.stderr


def test_proxy_jump_from_ssh_config(laptop: Laptop) -> None:
    """``viajump`` reaches the cluster through ``ProxyJump testcluster`` (a direct-tcpip channel
    of the jump connection, as OpenSSH does)."""
    from packtivity.hosts import host_for

    host = host_for("viajump")
    result = host.run(["sh", "-c", "id -un; echo $SSH_CONNECTION"])
    user, connection = result.output.split("\n")[:2]
    assert (result.returncode, user) == (0, "packtivity")
    assert connection.split()[0] == "127.0.0.1"  # the jump host's sshd connected onwards
    host.close()


def test_wait_resumes_after_the_connection_is_cut(laptop: Laptop, cli, tmp_path) -> None:
    """While ``packtivity-run`` waits, the sshd process serving its connection is ended (found
    by the client's port; sshd is the test cluster's, started by ``cluster up``): the wait
    reconnects and completes."""
    cluster = laptop.cluster
    write_spec(tmp_path, "step.yml", host_spec("sleep 6; echo survived > {out}", {"o": "{out}"}))
    logins = laptop.sshd_logins()
    waiting = subprocess.Popen(
        [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "slurm",
         "--ssh", "testcluster", "-p", "out={workdir}/o.txt", "-w", str(laptop.work)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _sshd_serving(waiting.pid, cluster.ssh_port, timeout=30)  # connected
        deadline = time.monotonic() + 30
        while "running" not in _queue_states() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "running" in _queue_states(), "the job never ran: a cut would test nothing"
        cut_at = _utc_now()
        # looked up again now: a process that held the socket a moment ago (a command's)
        # may have ended since
        ended = 0
        for pid in _sshd_serving(waiting.pid, cluster.ssh_port, timeout=30):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                ended += 1
        assert ended, "no sshd process of the connection was left to end"
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert json.loads(out) == {"o": str(laptop.work / "o.txt")}
    assert (laptop.work / "o.txt").read_text() == "survived\n"
    assert laptop.sshd_logins() >= logins + 2  # the first login, and the reconnection
    (record,) = [
        json.loads(p.read_text()) for p in (laptop.work / "_packtivity").glob("*.run.json")
    ]
    assert record["start"] <= cut_at <= record["end"], "the job was not running during the cut"


def _utc_now() -> str:
    """Now as the run record writes times (UTC, ISO 8601, seconds): comparable as text."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _queue_states() -> str:
    return subprocess.run(
        ["squeue", "-h", "-o", "%T"], capture_output=True, text=True
    ).stdout.lower()


def _sshd_serving(client_pid: int, port: int, timeout: float) -> list[int]:
    """The PIDs of the sshd processes serving ``client_pid``'s connection to ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ours = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( dport = :{port} )"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        local_ports = [
            line.split()[2].rsplit(":", 1)[1]
            for line in ours.splitlines()
            if f"pid={client_pid}," in line
        ]
        if local_ports:
            served = subprocess.run(
                ["ss", "-Htnp", "state", "established",
                 f"( sport = :{port} and dport = :{local_ports[0]} )"],
                capture_output=True, text=True,
            ).stdout  # fmt: skip
            pids = sorted({int(p) for p in re.findall(r"pid=(\d+)", served)})
            if pids:
                return pids
        time.sleep(0.2)
    pytest.fail(f"no SSH connection of process {client_pid} to port {port} appeared")


def test_yadage_workflow_over_ssh(laptop: Laptop, apptainer) -> None:
    """yadage 0.21 runs a container map/reduce with ``-b slurm -k ssh=testcluster``.

    yadage keeps its own bookkeeping (and creates each step's directories) on the disk of the
    machine it runs on; here that disk is also the cluster's, so it runs with umask 0 to let
    the cluster user write into the directories it created.
    """
    r = subprocess.run(
        [str(BIN / "yadage-run"), "-t", str(HERE / "workflows"), "work", "containers.yml",
         "-b", "slurm", "-k", "ssh=testcluster", "-p", "items=[1, 2, 3]"],
        cwd=laptop.work, capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: os.umask(0),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    total = laptop.work / "work" / "reduce" / "total.txt"
    assert total.read_text() == "14\n"
    assert total.stat().st_uid == laptop.cluster_uid


def test_profile_names_the_cluster(laptop: Laptop, cli, tmp_path, monkeypatch) -> None:
    """``ssh:`` in a profile of the config file: ``--profile from-laptop`` is all it takes."""
    config = tmp_path / "config.yml"
    config.write_text("profiles:\n  from-laptop: {ssh: testcluster, walltime: '5'}\n")
    monkeypatch.setenv("PACKTIVITY_CONFIG", str(config))
    spec = host_spec("id -un > who.txt", {"who": "{workdir}/who.txt"})
    r = run(cli, tmp_path, spec, "-b", "slurm", "--profile", "from-laptop", "-w", str(laptop.work))
    assert r.returncode == 0, r.stderr
    assert (laptop.work / "who.txt").stat().st_uid == laptop.cluster_uid


def test_keyboard_interactive_is_asked_once_on_the_terminal(laptop: Laptop, tmp_path) -> None:
    """The test cluster's second sshd wants the key and then keyboard-interactive (its PAM asks
    for the user's password), as clusters with one-time codes do.  ``packtivity-run`` runs on a
    pseudo-terminal: it asks once for the whole submit-wait-publish, the answer is typed, the
    step runs; the answer is in no file packtivity wrote."""
    import pty

    password = laptop.cluster.ssh_password_file.read_text().strip()
    write_spec(tmp_path, "step.yml", host_spec("echo ok > {out}", {"o": "{out}"}))
    argv = [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "slurm",
            "--ssh", "twofactor", "-p", "out={workdir}/o.txt", "-w", str(laptop.work)]  # fmt: skip
    pid, terminal = pty.fork()
    if pid == 0:  # the child: packtivity-run with the pseudo-terminal as its terminal
        os.execv(argv[0], argv)
    transcript = _converse(terminal, "Password: ", password + "\n", timeout=120)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert transcript.count("Password: ") == 1, transcript
    assert "(packtivity@127.0.0.1:" in transcript  # the prompt says which host asks
    assert (laptop.work / "o.txt").read_text() == "ok\n"
    for path in [*laptop.work.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path


def _converse(terminal: int, prompt: str, answer: str, timeout: float) -> str:
    """Read the terminal until ``prompt``, type ``answer``, read to the end; the transcript."""
    import select

    transcript, answered = "", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        transcript += data.decode(errors="replace")
        if not answered and prompt in transcript:
            os.write(terminal, answer.encode())
            answered = True
    os.close(terminal)
    return transcript.replace(answer.strip(), "<typed>")
