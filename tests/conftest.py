"""Shared fixtures: the spec directory, per-test work directories, and a CLI runner that runs
the installed console scripts as real processes (so exit codes and stderr are the real ones)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SPECS = Path(__file__).parent / "specs"
BIN = Path(sys.executable).parent


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def specs() -> Path:
    return SPECS


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def cli(tmp_path: Path):
    """``cli("packtivity-run", *args, cwd=..., env=...)`` -> CliResult."""

    def run(
        command: str,
        *args: str,
        cwd: Path | None = None,
        env: dict | None = None,
        timeout: float = 120,
    ) -> CliResult:
        executable = BIN / command
        assert executable.exists(), f"{command} is not installed next to {sys.executable}"
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run(
            [str(executable), *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Bad input: exit 2, exactly one line on stderr starting 'Error:', no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_one_line_error_any(result: CliResult, *fragments: str) -> None:
    """Any failure (exit code checked by the caller): exactly one 'Error:' line, holding every
    fragment, and no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, result.stderr)
    assert "Traceback" not in result.stderr


@pytest.fixture
def copy_specs(tmp_path: Path) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(SPECS, target)
    return target


# ---- the test cluster (tests/cluster/cluster up; `./dev test` brings it up and down) --------

CLUSTER_FIXTURES = {
    "slurm",
    "apptainer",
    "registry",
    "ssh",
    "pbs",
    "shared_workdir",
    "redis",
    "ipcluster",
}


@dataclass
class Cluster:
    """What ``tests/cluster/cluster env`` exported."""

    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: str
    ssh_known_hosts: str
    ssh_2fa_port: int  #: a second sshd that wants the key, then keyboard-interactive (password)
    ssh_password_file: Path  #: the SSH user's password (for that sshd's PAM prompt)
    shared_dir: Path
    images: Path
    pbs_bin: Path
    registry: str  #: host:port of the container registry on 127.0.0.1 (plain HTTP)
    registry_image: str  #: repository:tag of the busybox test image in it
    registry_log: Path  #: the registry's log, one line per request
    redis: str  #: redis://127.0.0.1:PORT of the Redis on 127.0.0.1 (the Celery broker)

    def image(self, name: str) -> Path:
        return self.images / f"{name}.sif"

    def registry_requests(self, fragment: str) -> int:
        """How many requests the registry has logged whose line contains ``fragment``."""
        with open(self.registry_log, errors="replace") as log:
            return sum(fragment in line for line in log)


def pytest_collection_modifyitems(config, items) -> None:
    """A test using a cluster fixture is an integration test (``-m "not integration"`` skips)."""
    for item in items:
        used = CLUSTER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used:
            item.add_marker(pytest.mark.integration)
            for name in used - {"shared_workdir", "registry"}:
                item.add_marker(getattr(pytest.mark, name))


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The running test cluster; a missing one FAILS the test (it is never skipped)."""
    env = os.environ
    needed = [
        "PACKTIVITY_TEST_SSH_HOST",
        "PACKTIVITY_TEST_SSH_PORT",
        "PACKTIVITY_TEST_SSH_USER",
        "PACKTIVITY_TEST_SSH_KEY",
        "PACKTIVITY_TEST_SSH_KNOWN_HOSTS",
        "PACKTIVITY_TEST_SSH_2FA_PORT",
        "PACKTIVITY_TEST_SSH_PASSWORD_FILE",
        "PACKTIVITY_TEST_SHARED_DIR",
        "PACKTIVITY_TEST_IMAGES",
        "PACKTIVITY_TEST_PBS_BIN",
        "PACKTIVITY_TEST_REGISTRY",
        "PACKTIVITY_TEST_REGISTRY_IMAGE",
        "PACKTIVITY_TEST_REGISTRY_LOG",
        "PACKTIVITY_TEST_REDIS",
    ]
    missing = [name for name in needed if not env.get(name)]
    if missing:
        pytest.fail(
            "the test cluster is not up (missing " + ", ".join(missing) + "): run "
            "'tests/cluster/cluster up && eval \"$(tests/cluster/cluster env)\"', or './dev test', "
            "or deselect integration tests with './dev test --unit'"
        )
    return Cluster(
        env["PACKTIVITY_TEST_SSH_HOST"],
        int(env["PACKTIVITY_TEST_SSH_PORT"]),
        env["PACKTIVITY_TEST_SSH_USER"],
        env["PACKTIVITY_TEST_SSH_KEY"],
        env["PACKTIVITY_TEST_SSH_KNOWN_HOSTS"],
        int(env["PACKTIVITY_TEST_SSH_2FA_PORT"]),
        Path(env["PACKTIVITY_TEST_SSH_PASSWORD_FILE"]),
        Path(env["PACKTIVITY_TEST_SHARED_DIR"]),
        Path(env["PACKTIVITY_TEST_IMAGES"]),
        Path(env["PACKTIVITY_TEST_PBS_BIN"]),
        env["PACKTIVITY_TEST_REGISTRY"],
        env["PACKTIVITY_TEST_REGISTRY_IMAGE"],
        Path(env["PACKTIVITY_TEST_REGISTRY_LOG"]),
        env["PACKTIVITY_TEST_REDIS"],
    )


def _answers(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def slurm(cluster: Cluster) -> Cluster:
    if not _answers(["scontrol", "ping"]):
        pytest.fail("Slurm does not answer 'scontrol ping': is the test cluster up?")
    return cluster


@pytest.fixture(scope="session")
def apptainer(cluster: Cluster) -> Cluster:
    if not _answers(["apptainer", "version"]):
        pytest.fail("no working 'apptainer' on PATH: is the test cluster up?")
    for image in ("busybox", "python"):
        if not cluster.image(image).is_file():
            pytest.fail(f"test image {cluster.image(image)} is missing: is the test cluster up?")
    return cluster


@pytest.fixture
def registry(apptainer: Cluster, monkeypatch) -> Cluster:
    """The registry on 127.0.0.1, pulls allowed (over plain HTTP: ``APPTAINER_NOHTTPS``)."""
    if not _answers(["curl", "-fsS", f"http://{apptainer.registry}/v2/"]):
        pytest.fail(f"the test registry {apptainer.registry} does not answer: is the cluster up?")
    monkeypatch.delenv("PACKTIVITY_DOCKER_NOPULL", raising=False)
    monkeypatch.setenv("APPTAINER_NOHTTPS", "1")
    return apptainer


@pytest.fixture(autouse=True)
def _private_caches(tmp_path: Path, monkeypatch) -> None:
    """Every test gets empty caches (specs, packtivity's images, Apptainer's own), and pulls
    are off unless the test asks for the ``registry``: no test ever reaches out to Docker Hub."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("PACKTIVITY_APPTAINER_CACHEDIR", str(tmp_path / "sif-cache"))
    monkeypatch.setenv("APPTAINER_CACHEDIR", str(tmp_path / "apptainer-cache"))
    monkeypatch.setenv("PACKTIVITY_DOCKER_NOPULL", "1")
    monkeypatch.delenv("PACKTIVITY_APPTAINER_IMAGE_MAP", raising=False)


@pytest.fixture(scope="session")
def ssh(cluster: Cluster) -> Cluster:
    return cluster


@pytest.fixture(scope="session")
def pbs(cluster: Cluster) -> Cluster:
    """The test cluster's OpenPBS 23.06.06: its head (server, scheduler, MoM) is the host
    pbs-head in a network namespace of its own; its commands are first on the PATH."""
    if shutil.which("qsub") != str(cluster.pbs_bin / "qsub"):
        pytest.fail(f"qsub on the PATH is not {cluster.pbs_bin}/qsub: is the test cluster up?")
    if not _answers([str(cluster.pbs_bin / "qstat"), "-B"]):
        pytest.fail("the OpenPBS server does not answer qstat -B: is the test cluster up?")
    # PBS starts job scripts in the owner's login shell: a slow one slows every job
    started = time.monotonic()
    subprocess.run(["bash", "-lc", "true"], capture_output=True, timeout=120)
    if time.monotonic() - started > 10:
        pytest.fail(
            "root's login shell takes over 10 s, and PBS starts every job of root in one: a "
            "stale lock of its profile (pyenv: /root/.pyenv/shims/.pyenv-shim, left by a job "
            "killed during its login)?"
        )
    return cluster


@pytest.fixture
def shared_workdir(cluster: Cluster, request) -> Path:
    """A fresh directory on the cluster's shared storage, writable by root and the SSH user."""
    import re
    import tempfile

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cluster.shared_dir))
    path.chmod(0o777)
    return path
