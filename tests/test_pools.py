"""``-b celery`` and ``-b ipcluster`` on real pools.

Celery: real workers (``celery -A packtivity.pools.celery worker``) started here, on the test
cluster's Redis; each test that kills or lacks workers has a Redis database of its own.
IPython Parallel: real clusters started here with ``ipcluster start -n 2`` in a private
``IPYTHONDIR``.  Steps run in the workers (their logs show it); every proxy is checked from a
new ``packtivity-checkproxy`` process, as a user would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from conftest import BIN, assert_one_line_error, assert_one_line_error_any
from stepspecs import host_spec, write_spec

STEP_TIMEOUT = 120


# ---- helpers ------------------------------------------------------------------------------


def pool_env(base: Path) -> dict[str, str]:
    """The environment of workers and engines: private image caches, no pulls."""
    env = {k: v for k, v in os.environ.items() if k != "PACKTIVITY_APPTAINER_IMAGE_MAP"}
    env.update(
        PACKTIVITY_APPTAINER_CACHEDIR=str(base / "sif-cache"),
        APPTAINER_CACHEDIR=str(base / "apptainer-cache"),
        PACKTIVITY_DOCKER_NOPULL="1",
    )
    return env


def wait_until(condition, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """Stop a process we started in its own session: SIGTERM, then SIGKILL to its group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError):  # the group is ours: workers, steps left over
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def ancestor_among(pid: int, candidates: set[int]) -> int:
    """The first ancestor of ``pid`` (or itself) in ``candidates``."""
    while pid > 1:
        if pid in candidates:
            return pid
        pid = parent_of(pid)
    raise AssertionError(f"no ancestor among {candidates}")


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def sleeper(marker: str = "{marker}") -> dict:
    """A step that writes its shell's PID, then sleeps."""
    return host_spec(f"echo $$ > {marker}; sleep 60", {"slept": True})


def step_pid(marker: Path) -> int:
    wait_until(lambda: marker.exists() and marker.read_text().strip(), 60, f"{marker}")
    return int(marker.read_text())


def run_async(cli, tmp_path: Path, spec: dict, backend: str, work: Path, *args, env=None):
    write_spec(tmp_path, "step.yml", spec)
    proxy = tmp_path / f"{work.name}.proxy.json"
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-b",
        backend,
        "--async",
        "-x",
        str(proxy),
        "-w",
        str(work),
        *args,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    return proxy


def check(cli, *args: str, env=None):
    return cli("packtivity-checkproxy", *args, env=env, timeout=STEP_TIMEOUT)


# ---- Celery -------------------------------------------------------------------------------

_databases = itertools.count(2)  # database 1 is the shared worker's; 0 is left alone


@dataclass
class CeleryWorker:
    process: subprocess.Popen
    name: str
    broker: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def fresh_broker(cluster, db: int) -> str:
    import redis as redis_client

    url = f"{cluster.redis}/{db}"
    redis_client.Redis.from_url(url).flushdb()
    return url


def start_worker(broker: str, base: Path, name: str) -> CeleryWorker:
    base.mkdir(parents=True, exist_ok=True)
    env = pool_env(base)
    env["PACKTIVITY_CELERY_REDIS_BROKER"] = broker
    log = base / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "packtivity.pools.celery",
                "worker",
                "-c",
                "2",
                "-n",
                f"{name}@%h",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=base,
            start_new_session=True,
        )
    worker = CeleryWorker(process, name, broker, log)

    def ready() -> bool:
        assert process.poll() is None, f"the worker exited:\n{worker.log_text()[-3000:]}"
        return " ready." in worker.log_text()

    wait_until(ready, 60, f"Celery worker {name}")
    return worker


@pytest.fixture(scope="session")
def redis(cluster):
    """The test cluster's Redis, answering."""
    import redis as redis_client

    try:
        redis_client.Redis.from_url(cluster.redis, socket_timeout=5).ping()
    except redis_client.RedisError as error:
        pytest.fail(f"the test cluster's Redis at {cluster.redis} does not answer ({error})")
    return cluster


@pytest.fixture(scope="session")
def celery_worker(redis, tmp_path_factory) -> Iterator[CeleryWorker]:
    """One worker for the tests that do not harm it (Redis database 1)."""
    broker = fresh_broker(redis, 1)
    worker = start_worker(broker, tmp_path_factory.mktemp("celery"), "shared")
    yield worker
    stop_group(worker.process)


@pytest.fixture
def celery_env(celery_worker, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("PACKTIVITY_CELERY_REDIS_BROKER", celery_worker.broker)
    return {"PACKTIVITY_CELERY_REDIS_BROKER": celery_worker.broker}


@pytest.fixture
def own_broker(redis, monkeypatch) -> str:
    """A Redis database no other test uses, set as the broker of the CLI processes."""
    broker = fresh_broker(redis, next(_databases) % 16 or 15)
    monkeypatch.setenv("PACKTIVITY_CELERY_REDIS_BROKER", broker)
    return broker


def task_id(proxy: Path) -> str:
    data = json.loads(proxy.read_text())
    assert data["proxyname"] == "CeleryProxy"
    return str(data["proxydetails"]["task_id"])


def test_celery_host_step_publishes(celery_env, cli, tmp_path: Path, specs: Path) -> None:
    work = tmp_path / "w"
    r = cli(
        "packtivity-run",
        "-t",
        str(Path(__file__).parent.parent / "examples"),
        "hello.yml",
        "-p",
        "name=Celery",
        "-p",
        "outputfile={workdir}/hello.txt",
        "-w",
        str(work),
        "-b",
        "celery",
        timeout=STEP_TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"greeting": f"{work}/hello.txt"}
    assert (work / "hello.txt").read_text() == "Hello, Celery!\n"
    assert "succeeded" in r.stderr


def test_celery_container_step_async_then_checkproxy_from_new_processes(
    celery_worker, celery_env, apptainer, cli, tmp_path: Path
) -> None:
    """The image map travels in the JSON task (backend options); the step runs in the worker,
    in Apptainer; two later checkproxy processes give the same answer."""
    image_map = tmp_path / "images.yml"
    image_map.write_text(f"busybox:1.36: {apptainer.image('busybox')}\n")
    options = tmp_path / "options.yml"
    options.write_text(f"config: {{exec: {{containers: {{image_map: {image_map}}}}}}}\n")
    spec = {
        "process": {
            "process_type": "string-interpolated-cmd",
            "cmd": "echo $PACKTIVITY_TEST_IMAGE {word} > {out}",
        },
        "environment": {
            "environment_type": "docker-encapsulated",
            "image": "busybox",
            "imagetag": "1.36",
        },
        "publisher": {"publisher_type": "interpolated-pub", "publish": {"out": "{out}"}},
    }
    work = tmp_path / "w"
    env = {"PACKTIVITY_ASYNCBACKEND_OPTS": str(options)}
    proxy = run_async(
        cli,
        tmp_path,
        spec,
        "celery",
        work,
        "-p",
        "word=celery",
        "-p",
        "out={workdir}/o.txt",
        env=env,
    )
    waited = check(cli, "--wait", str(proxy))
    assert waited.returncode == 0, waited.stderr
    assert f'result: {{"out": "{work}/o.txt"}}' in waited.stdout
    assert (work / "o.txt").read_text() == "busybox celery\n"
    (record,) = (work / "_packtivity").glob("*.run.json")
    assert json.loads(record.read_text())["runtime"] == "apptainer"
    assert f"Task packtivity.run[{task_id(proxy)}] succeeded" in celery_worker.log_text()
    again = check(cli, "--json", str(proxy))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["steps"][0]["result"] == {"out": f"{work}/o.txt"}


def test_celery_failing_step_reports_exit_code_and_output(celery_env, cli, tmp_path: Path) -> None:
    spec = host_spec("echo about to fail; echo bad things >&2; exit 3")
    write_spec(tmp_path, "step.yml", spec)
    work = tmp_path / "w"
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "celery", "-w", str(work))
    assert r.returncode == 1
    assert "failed with exit code 3" in r.stderr and "bad things" in r.stderr
    assert "Traceback" not in r.stderr
    proxy = run_async(cli, tmp_path, spec, "celery", tmp_path / "w2")
    c = check(cli, "--wait", str(proxy))
    assert c.returncode == 1
    assert "successful: False" in c.stdout
    assert "failed with exit code 3" in c.stdout and "bad things" in c.stdout


def test_celery_tasks_are_json_on_the_broker(own_broker, cli, tmp_path: Path) -> None:
    """With no worker, the queued message is read straight from Redis: JSON, not pickle."""
    import base64

    import redis as redis_client

    proxy = run_async(
        cli, tmp_path, host_spec("echo {word}"), "celery", tmp_path / "w", "-p", "word=json"
    )
    (raw,) = redis_client.Redis.from_url(own_broker).lrange("celery", 0, -1)
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["headers"]["id"] == task_id(proxy)
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args[0]["parameters"] == {"word": "json"}
    assert args[0]["spec"]["process"]["cmd"] == "echo {word}"
    c = check(cli, str(proxy))  # no worker: queued, and the note says how to start one
    assert c.returncode == 0, c.stderr
    assert "status: queued" in c.stdout
    assert (
        "no Celery worker answers" in c.stdout and "celery -A packtivity.pools.celery" in c.stdout
    )


def test_celery_pool_process_killed_mid_task_is_failed(own_broker, cli, tmp_path: Path) -> None:
    """The pool process running the step is killed (as the OOM killer would): Celery's
    WorkerLostError; the worker lives on and runs the next step."""
    worker = start_worker(own_broker, tmp_path / "worker", "victim")
    try:
        marker = tmp_path / "pid"
        proxy = run_async(
            cli, tmp_path, sleeper(), "celery", tmp_path / "w", "-p", f"marker={marker}"
        )
        pool = ancestor_among(step_pid(marker), children_of(worker.process.pid))
        os.kill(pool, signal.SIGKILL)
        c = check(cli, "--wait", str(proxy))
        assert c.returncode == 1, c.stdout + c.stderr
        assert "successful: False" in c.stdout and "WorkerLostError" in c.stdout
        after = run_async(cli, tmp_path, host_spec("true"), "celery", tmp_path / "w2")
        assert check(cli, "--wait", str(after)).returncode == 0
    finally:
        stop_group(worker.process)


def test_celery_whole_worker_killed_mid_task_is_failed_for_good(
    own_broker, cli, tmp_path: Path
) -> None:
    """Worker and step killed together (a node lost): the task stays STARTED in Redis, with no
    worker having it.  Reported failed, never success or forever running; the verdict is
    recorded, so a later check says the same without asking the workers."""
    worker = start_worker(own_broker, tmp_path / "worker", "doomed")
    marker = tmp_path / "pid"
    proxy = run_async(cli, tmp_path, sleeper(), "celery", tmp_path / "w", "-p", f"marker={marker}")
    step_pid(marker)
    running = check(cli, str(proxy))
    assert "status: running" in running.stdout, running.stdout + running.stderr
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(10)
    c = check(cli, "--wait", str(proxy))
    assert c.returncode == 1, c.stdout + c.stderr
    assert "successful: False" in c.stdout
    assert "doomed@" in c.stdout and "no longer answers" in c.stdout
    again = check(cli, "--json", str(proxy))
    assert again.returncode == 1
    (step,) = json.loads(again.stdout)["steps"]
    assert step["status"] == "failed" and not step["succeeded"] and step["finished"]
    assert "no longer answers" in step["message"]


def test_celery_unknown_task_and_unreachable_broker(own_broker, cli, tmp_path: Path) -> None:
    proxy = tmp_path / "made-up.json"
    proxy.write_text(json.dumps({"proxyname": "CeleryProxy", "proxydetails": {"task_id": "x1"}}))
    c = check(cli, str(proxy))
    assert c.returncode == 1
    assert "status: unknown" in c.stdout and "unknown to the result backend" in c.stdout
    closed = {"PACKTIVITY_CELERY_REDIS_BROKER": "redis://127.0.0.1:1/0"}
    write_spec(tmp_path, "step.yml", host_spec("true"))
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "celery", env=closed)
    assert r.returncode == 3  # infrastructure: not the step's fault, not bad input
    assert_one_line_error_any(r, "cannot reach the Celery broker at redis://127.0.0.1:1")
    bad = check(cli, str(tmp_path / "made-up.json"), env=closed)
    assert bad.returncode == 3 and "cannot reach the Celery broker" in bad.stderr
    not_a_url = {"PACKTIVITY_CELERY_REDIS_BROKER": "localhost"}
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-b", "celery", env=not_a_url)
    assert_one_line_error(r, "must be a URL like redis://host:6379/0, got 'localhost'")


def test_celery_proxy_without_task_id_is_bad_input(cli, tmp_path: Path) -> None:
    proxy = tmp_path / "p.json"
    proxy.write_text(json.dumps({"proxyname": "CeleryProxy", "proxydetails": {}}))
    assert_one_line_error(check(cli, str(proxy)), "needs proxydetails with a 'task_id'")


# ---- IPython Parallel ---------------------------------------------------------------------


@dataclass
class IPCluster:
    process: subprocess.Popen
    ipython_dir: Path
    log: Path

    @property
    def env(self) -> dict[str, str]:
        return {"IPYTHONDIR": str(self.ipython_dir)}

    #: the engines as started; each leads a session of its own (with its steps)
    started_engines: frozenset[int] = frozenset()

    def engines(self) -> set[int]:
        return {
            pid
            for pid in children_of(self.process.pid)
            if b"ipyparallel.engine" in Path(f"/proc/{pid}/cmdline").read_bytes()
        }

    def stop(self) -> None:
        """Stop ipcluster, then whatever is left of its engines' sessions (a killed engine's
        step runs on as an orphan)."""
        stop_group(self.process)
        for engine in self.started_engines:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(engine, signal.SIGKILL)


def start_ipcluster(base: Path, engines: int = 2) -> IPCluster:
    import ipyparallel

    base.mkdir(parents=True, exist_ok=True)
    env = pool_env(base)
    env["IPYTHONDIR"] = str(base / "ipython")
    log = base / "ipcluster.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "ipcluster"), "start", "-n", str(engines)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=base,
            start_new_session=True,
        )
    cluster = IPCluster(process, base / "ipython", log)
    url_file = cluster.ipython_dir / "profile_default" / "security" / "ipcontroller-client.json"
    try:
        wait_until(url_file.exists, 90, "the ipcluster connection file")
        client = ipyparallel.Client(str(url_file), timeout=30)
        client.wait_for_engines(engines, timeout=90)
        client.close()
    except BaseException:
        cluster.started_engines = frozenset(cluster.engines())
        cluster.stop()
        raise AssertionError(f"ipcluster did not start:\n{log.read_text()[-3000:]}") from None
    cluster.started_engines = frozenset(cluster.engines())
    return cluster


@pytest.fixture(scope="session")
def ipcluster(tmp_path_factory) -> Iterator[IPCluster]:
    """``ipcluster start -n 2`` for the tests that do not harm it."""
    cluster = start_ipcluster(tmp_path_factory.mktemp("ipcluster"))
    yield cluster
    cluster.stop()


def test_ipcluster_host_and_container_steps_publish(
    ipcluster, apptainer, cli, tmp_path: Path
) -> None:
    chain = tmp_path / "chain"  # the PIDs of the step's shell and its ancestors
    ancestry = "p=$$; while [ $p -gt 1 ]; do echo $p; p=$(cut -d' ' -f4 /proc/$p/stat); done"
    cmd = f"echo {{word}} > {{out}}; {ancestry} > {chain}"
    write_spec(tmp_path, "host.yml", host_spec(cmd, {"out": "{out}"}))
    work = tmp_path / "w"

    def run(spec_file: str, work: Path):
        return cli(
            "packtivity-run", "-t", str(tmp_path), spec_file, "-w", str(work), "-b", "ipcluster",
            "-p", "word=engine", "-p", "out={workdir}/o.txt", env=ipcluster.env,
            timeout=STEP_TIMEOUT,
        )  # fmt: skip

    r = run("host.yml", work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": f"{work}/o.txt"}
    assert (work / "o.txt").read_text() == "engine\n"
    assert ipcluster.engines() & {int(pid) for pid in chain.read_text().split()}
    spec = {
        "process": {
            "process_type": "string-interpolated-cmd",
            "cmd": "echo $PACKTIVITY_TEST_IMAGE > {out}",
        },
        "environment": {
            "environment_type": "docker-encapsulated",
            "image": str(apptainer.image("busybox")),
        },
        "publisher": {"publisher_type": "interpolated-pub", "publish": {"out": "{out}"}},
    }
    write_spec(tmp_path, "box.yml", spec)
    box = tmp_path / "box"
    r = run("box.yml", box)
    assert r.returncode == 0, r.stderr
    assert (box / "o.txt").read_text() == "busybox\n"
    (record,) = (box / "_packtivity").glob("*.run.json")
    assert json.loads(record.read_text())["runtime"] == "apptainer"


def test_ipcluster_async_then_checkproxy_from_new_processes(ipcluster, cli, tmp_path: Path) -> None:
    work = tmp_path / "w"
    proxy = run_async(
        cli,
        tmp_path,
        host_spec("echo hi > {out}", {"out": "{out}"}),
        "ipcluster",
        work,
        "-p",
        "out={workdir}/o.txt",
        env=ipcluster.env,
    )
    data = json.loads(proxy.read_text())
    assert data["proxyname"] == "IPClusterProxy"
    assert data["proxydetails"]["url_file"].startswith(str(ipcluster.ipython_dir))
    # no IPYTHONDIR here: the proxy names the cluster's connection file
    waited = check(cli, "--wait", str(proxy))
    assert waited.returncode == 0, waited.stderr
    assert f'result: {{"out": "{work}/o.txt"}}' in waited.stdout
    again = check(cli, "--json", str(proxy))
    assert json.loads(again.stdout)["steps"][0]["result"] == {"out": f"{work}/o.txt"}


def test_ipcluster_failing_step_reports_exit_code_and_output(
    ipcluster, cli, tmp_path: Path
) -> None:
    spec = host_spec("echo bad things >&2; exit 3")
    write_spec(tmp_path, "step.yml", spec)
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-b",
        "ipcluster",
        "-w",
        str(tmp_path / "w"),
        env=ipcluster.env,
    )
    assert r.returncode == 1
    assert "failed with exit code 3" in r.stderr and "bad things" in r.stderr
    assert "Traceback" not in r.stderr
    proxy = run_async(cli, tmp_path, spec, "ipcluster", tmp_path / "w2", env=ipcluster.env)
    c = check(cli, "--wait", str(proxy))
    assert c.returncode == 1 and "failed with exit code 3" in c.stdout


@pytest.mark.integration  # no cluster, but real processes that live for seconds
def test_ipcluster_engine_killed_mid_task_is_failed(cli, tmp_path: Path) -> None:
    cluster = start_ipcluster(tmp_path / "cluster")
    try:
        marker = tmp_path / "pid"
        proxy = run_async(
            cli,
            tmp_path,
            sleeper(),
            "ipcluster",
            tmp_path / "w",
            "-p",
            f"marker={marker}",
            env=cluster.env,
        )
        engine = ancestor_among(step_pid(marker), cluster.engines())
        os.kill(engine, signal.SIGKILL)
        c = check(cli, "--wait", str(proxy))
        assert c.returncode == 1, c.stdout + c.stderr
        assert "successful: False" in c.stdout
        assert "EngineError" in c.stdout and "died while running task" in c.stdout
    finally:
        cluster.stop()
    # the controller is gone now: checking says so in one line, and does not guess
    gone = check(cli, str(proxy))
    assert gone.returncode == 3
    assert "cannot reach the IPython Parallel controller" in gone.stderr or (
        "does not exist" in gone.stderr
    )


def test_ipcluster_not_running_is_one_clear_line(cli, tmp_path: Path) -> None:
    write_spec(tmp_path, "step.yml", host_spec("true"))
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-b",
        "ipcluster",
        env={"IPYTHONDIR": str(tmp_path / "no-ipython")},
    )
    assert r.returncode == 3
    assert_one_line_error_any(r, "no IPython Parallel cluster", "ipcluster start")


def test_ipcluster_unknown_task_is_unknown(ipcluster, cli, tmp_path: Path) -> None:
    url_file = ipcluster.ipython_dir / "profile_default" / "security" / "ipcontroller-client.json"
    proxy = tmp_path / "p.json"
    proxy.write_text(
        json.dumps(
            {
                "proxyname": "IPClusterProxy",
                "proxydetails": {"msg_id": "no-such-task", "url_file": str(url_file)},
            }
        )
    )
    c = check(cli, str(proxy))
    assert c.returncode == 1
    assert "status: unknown" in c.stdout and "does not know task no-such-task" in c.stdout


# ---- yadage on the pools ------------------------------------------------------------------


@pytest.mark.integration  # its pool fixture is asked for by name, below
@pytest.mark.parametrize("pool", ["celery", "ipcluster"])
def test_yadage_map_reduce_on_the_pool(pool: str, request, tmp_path: Path) -> None:
    """yadage 0.21.2, unchanged, with ``-b celery`` / ``-b ipcluster``."""
    env = dict(os.environ)
    if pool == "celery":
        env["PACKTIVITY_CELERY_REDIS_BROKER"] = request.getfixturevalue("celery_worker").broker
    else:
        env.update(request.getfixturevalue("ipcluster").env)
    r = subprocess.run(
        [
            str(BIN / "yadage-run"),
            "-t",
            str(Path(__file__).parent / "workflows"),
            "work",
            "mapreduce.yml",
            "-b",
            pool,
            "-p",
            "items=[1, 2, 3, 4]",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "work" / "reduce" / "total.txt").read_text().strip() == "30"
    assert "workflow completed successfully" in r.stderr
