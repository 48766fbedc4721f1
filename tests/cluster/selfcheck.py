"""The test cluster's self-checks (``tests/cluster/cluster check``): real Slurm, slurmdbd's
sacct after the queue forgets a job, associations and cgroup memory enforced, real Apptainer
with each test image, sshd with strict host keys (paramiko), the real OpenPBS.  They test
the cluster, not packtivity: ``./dev test`` runs them before the package's tests, so that a
broken cluster is reported as such."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Cluster

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"


def run(*command: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_trivial_sbatch_job_completes(slurm: Cluster, shared_workdir: Path) -> None:
    out = shared_workdir / "hello.txt"
    r = run(
        "sbatch",
        "--parsable",
        "--wait",
        "-o",
        str(shared_workdir / "job.out"),
        "--wrap",
        f"echo hello-from-slurm > {out}",
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip().split(";")[0]
    assert out.read_text() == "hello-from-slurm\n"
    show = run("scontrol", "show", "job", job_id).stdout
    assert "JobState=COMPLETED" in show and "ExitCode=0:0" in show


def test_sacct_reports_a_job_that_left_the_queue(slurm: Cluster, shared_workdir: Path) -> None:
    r = run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "exit 3", cwd=shared_workdir)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    deadline = time.monotonic() + 240  # MinJobAge (10 s) plus Slurm's purge timer
    while run("squeue", "-h", "-j", job_id).returncode == 0:
        assert time.monotonic() < deadline, f"job {job_id} never left the queue"
        time.sleep(2)
    acct = run("sacct", "-X", "-n", "-P", "-j", job_id, "-o", "JobID,State,ExitCode").stdout
    assert f"{job_id}|FAILED|3:0" in acct.splitlines(), acct  # slurmdbd's, not sacct -c's


def test_associations_are_enforced(slurm: Cluster) -> None:
    """As at production sites: a job of an account the user is not in is refused at submit."""
    r = run("sbatch", "--parsable", "-A", "nosuchaccount", "-o", "/dev/null", "--wrap", "true")
    assert r.returncode != 0 and "Invalid account" in r.stderr, (r.stdout, r.stderr)
    assoc = run("sacctmgr", "-n", "-P", "show", "assoc", "where", "account=physics",
                "format=user").stdout.split()  # fmt: skip
    assert "root" in assoc and slurm.ssh_user in assoc, assoc


def test_memory_is_enforced_by_cgroups(slurm: Cluster, shared_workdir: Path) -> None:
    """task/cgroup with ConstrainRAMSpace: 200 MB allocated in a job of 50 MB."""
    r = run(
        "sbatch", "--parsable", "--wait", "--mem=50M", "-o", "/dev/null", "--wrap",
        "python3 -c 'x = bytearray(200 * 1024 * 1024)'", cwd=shared_workdir, timeout=120,
    )  # fmt: skip
    job_id = r.stdout.strip()
    show = run("scontrol", "show", "job", job_id).stdout
    assert "JobState=OUT_OF_MEMORY" in show, show


@pytest.mark.parametrize("image", sorted(p.stem for p in CONTAINERS.glob("*.def")))
def test_apptainer_image_binds_and_propagates_exit_code(
    apptainer: Cluster, tmp_path: Path, image: str
) -> None:
    sif = apptainer.image(image)
    r = run(
        "apptainer",
        "exec",
        "--containall",
        "--bind",
        f"{tmp_path}:/data",
        sif,
        "sh",
        "-c",
        "echo from-$PACKTIVITY_TEST_IMAGE > /data/out.txt; exit 3",
    )
    assert r.returncode == 3, r.stderr
    assert (tmp_path / "out.txt").read_text() == f"from-{image}\n"
    readonly = run(
        "apptainer", "exec", "--bind", f"{tmp_path}:/data:ro", sif, "sh", "-c", "touch /data/x"
    )
    assert readonly.returncode != 0 and not (tmp_path / "x").exists()


def test_python_image_has_python(apptainer: Cluster) -> None:
    r = run("apptainer", "exec", apptainer.image("python"), "python3", "-c", "print(6 * 7)")
    assert r.returncode == 0 and r.stdout.strip() == "42", r.stderr


def _client(cluster: Cluster, known_hosts: str):
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        cluster.ssh_host,
        port=cluster.ssh_port,
        username=cluster.ssh_user,
        key_filename=cluster.ssh_key,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def test_paramiko_strict_host_key_login(ssh: Cluster) -> None:
    client = _client(ssh, ssh.ssh_known_hosts)
    try:
        _, stdout, _ = client.exec_command("id -un && sbatch --version", timeout=20)
        lines = stdout.read().decode().split()
        assert lines[0] == ssh.ssh_user and lines[1].startswith("slurm")
    finally:
        client.close()


def test_paramiko_refuses_unknown_and_wrong_host_keys(ssh: Cluster, tmp_path: Path) -> None:
    import paramiko

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        _client(ssh, str(empty))
    other = paramiko.Ed25519Key.from_private_key_file(ssh.ssh_key)  # a valid key, not the host's
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[{ssh.ssh_host}]:{ssh.ssh_port} ssh-ed25519 {other.get_base64()}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        _client(ssh, str(wrong))


def test_openpbs_runs_a_job_on_its_head(pbs: Cluster, shared_workdir: Path) -> None:
    """The real OpenPBS: qsub of a #PBS script (as root: acl_roots), the state via qstat -F json
    -x; the job ran on pbs-head, the namespace's host, and wrote to the shared storage."""
    script = shared_workdir / "job.pbs"
    script.write_text(
        "#!/bin/sh\n#PBS -N openpbs-check\n#PBS -l walltime=00:02:00\n"
        f'echo "jobid=$PBS_JOBID host=$(hostname)" > {shared_workdir}/pbs.out\nexit 3\n'
    )
    r = run("qsub", str(script), cwd=shared_workdir)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip().split()[-1]
    deadline = time.monotonic() + 60
    while True:
        status = run("qstat", "-f", "-F", "json", "-x", job_id)
        assert status.returncode == 0, status.stderr
        job = json.loads(status.stdout)["Jobs"][job_id]
        if job["job_state"] == "F":
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["Job_Name"] == "openpbs-check" and job["Exit_status"] == 3
    assert (shared_workdir / "pbs.out").read_text() == f"jobid={job_id} host=pbs-head\n"


def test_partition_limits_are_enforced_at_submission(slurm: Cluster) -> None:
    """The partition's memory and time limits exist (EnforcePartLimits=ALL rejects at sbatch)."""
    too_much_memory = run(
        "sbatch", "--parsable", "--mem=100000", "-o", "/dev/null", "--wrap", "true"
    )
    assert too_much_memory.returncode != 0
    too_long = run("sbatch", "--parsable", "--time=2:00:00", "-o", "/dev/null", "--wrap", "true")
    assert too_long.returncode != 0 and "time limit" in too_long.stderr.lower()
