"""Backends from strings (built-in, py:, fromenv, entry points), proxies, plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from stepspecs import host_spec, write_spec

import packtivity
from packtivity.asyncbackends import ForegroundBackend, ForegroundProxy, MultiProcBackend
from packtivity.backendutils import backend_from_string, known_backends, load_proxy
from packtivity.errors import BackendError, ProxyError, StepFailed
from packtivity.statecontexts import LocalFSState
from packtivity.syncbackends import defaultsyncbackend
from packtivity.utils import load_packtivity

PLUGIN = textwrap.dedent(
    """
    from packtivity.asyncbackends import ForegroundBackend, ForegroundProxy
    from packtivity.handlers.publisher_handlers import publisher

    class EchoBackend(ForegroundBackend):
        def __init__(self, flavour="plain", **kwargs):
            super().__init__(kwargs or None)
            self.flavour = flavour

    def factory(backendstring, backendopts):
        return False, EchoBackend(flavour=backendstring.partition(":")[2] or "plain", **backendopts)

    def proxy_loader(jsondata, deserialization_opts=None, best_effort_backend=False):
        proxy = ForegroundProxy.fromJSON(jsondata)
        return (proxy, EchoBackend()) if best_effort_backend else proxy

    @publisher("shout-pub")
    def shout(publisher_spec, parameters, state):
        return {k: str(v).upper() for k, v in parameters.json().items()}
    """
)


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch) -> Path:
    """A plugin distribution on sys.path, with real entry-point metadata."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "echoplugin.py").write_text(PLUGIN)
    dist = root / "echoplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echoplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[packtivity.backends]\necho = echoplugin:factory\n\n"
        "[packtivity.proxies]\nEchoProxy = echoplugin:proxy_loader\n"
    )
    monkeypatch.syspath_prepend(str(root))
    return root


def test_builtin_backends() -> None:
    assert backend_from_string("defaultsync")[0] is True
    is_sync, fg = backend_from_string("foregroundasync")
    assert not is_sync and isinstance(fg, ForegroundBackend)
    is_sync, mp = backend_from_string("multiproc:1")
    assert not is_sync and isinstance(mp, MultiProcBackend)
    mp.pool.terminate()
    with pytest.raises(
        BackendError, match="unknown backend 'slurmish'; known backends: .*defaultsync"
    ):
        backend_from_string("slurmish")


def test_entry_point_backend_and_proxy(plugin_path: Path, specs: Path, tmp_path: Path) -> None:
    assert "echo" in known_backends()
    is_sync, backend = backend_from_string("echo:loud")
    assert not is_sync and backend.flavour == "loud"
    details = {"resultdata": {"a": 1}, "datamodel": None, "success": True}
    proxy, found = load_proxy({"proxyname": "EchoProxy", "proxydetails": details})
    assert type(found).__name__ == "EchoBackend" and found.result(proxy).json() == {"a": 1}


def test_entry_point_backend_from_the_cli(plugin_path: Path, specs: Path, tmp_path: Path) -> None:
    env_path = str(plugin_path)
    r = subprocess.run(
        [
            str(Path(sys.executable).parent / "packtivity-run"),
            "-t",
            str(specs),
            "purepub.yml",
            "-p",
            "a=1",
            "-p",
            "b=2",
            "-b",
            "echo",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"first": 1, "nested": {"second": 2}}


def test_py_and_fromenv_backends(plugin_path: Path, monkeypatch) -> None:
    _, backend = backend_from_string("py:echoplugin:EchoBackend", {"flavour": "py"})
    assert backend.flavour == "py"
    monkeypatch.setenv("PACKTIVITY_ASYNCBACKEND", "echoplugin:EchoBackend:ForegroundProxy")
    _, backend = backend_from_string("fromenv")
    assert type(backend).__name__ == "EchoBackend"
    monkeypatch.setenv("PACKTIVITY_ASYNCBACKEND", "broken")
    with pytest.raises(BackendError, match="module:BackendClass:ProxyClass"):
        backend_from_string("fromenv")


def test_backend_opts_from_env_file(plugin_path: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "opts.yml").write_text("flavour: fromfile\n")
    monkeypatch.setenv("PACKTIVITY_ASYNCBACKEND_OPTS", str(tmp_path / "opts.yml"))
    assert backend_from_string("py:echoplugin:EchoBackend")[1].flavour == "fromfile"


def test_plugin_publisher_via_env(plugin_path: Path, workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("PACKTIVITY_PLUGINS", "echoplugin")
    from packtivity.plugins import enable_plugins

    enable_plugins()
    spec = {"process": None, "environment": None, "publisher": {"publisher_type": "shout-pub"}}
    result = defaultsyncbackend().run(spec, {"x": "quiet"}, LocalFSState([str(workdir)]))
    assert result.json() == {"x": "QUIET"}


def test_foreground_proxy_round_trip_and_failure(specs: Path, workdir: Path) -> None:
    backend = ForegroundBackend()
    spec = load_packtivity("fail.yml", str(specs))
    proxy = backend.submit(spec, {"code": 7}, LocalFSState([str(workdir)]))
    assert backend.ready(proxy) is True and backend.successful(proxy) is False
    assert "exit code 7" in backend.fail_info(proxy)
    loaded, again = load_proxy(json.loads(json.dumps(proxy.json())))
    assert isinstance(loaded, ForegroundProxy) and again.successful(loaded) is False
    with pytest.raises(StepFailed, match="exit code 7"):
        again.result(loaded)


def test_multiproc_successful_is_bool_and_fail_info(specs: Path, workdir: Path) -> None:
    backend = MultiProcBackend(2)
    try:
        good = backend.submit(
            load_packtivity("purepub.yml", str(specs)),
            {"a": 1, "b": 2},
            LocalFSState([str(workdir)]),
        )
        bad = backend.submit(
            load_packtivity("fail.yml", str(specs)), {"code": 9}, LocalFSState([str(workdir)])
        )
        assert packtivity.wait_for_result(backend, good, timeout=60).json() == {
            "first": 1,
            "nested": {"second": 2},
        }
        with pytest.raises(StepFailed):
            packtivity.wait_for_result(backend, bad, timeout=60)
        assert backend.successful(good) is True and backend.successful(bad) is False
        assert "exit code 9" in backend.fail_info(bad)
        # in-memory proxies: None for yadage snapshots, a clear error when a backend is wanted
        assert load_proxy(good.json(), best_effort_backend=False) is None
        with pytest.raises(ProxyError, match="cannot be saved"):
            load_proxy(good.json())
    finally:
        backend.pool.terminate()


def test_options_a_backend_does_not_take_are_one_line(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "opts.yml").write_text("bogus: 1\n")
    monkeypatch.setenv("PACKTIVITY_ASYNCBACKEND_OPTS", str(tmp_path / "opts.yml"))
    for name in ("defaultsync", "foregroundasync", "multiproc:1"):
        with pytest.raises(BackendError, match=f"backend '{name}' does not take the options"):
            backend_from_string(name)


# ---- the example in docs/backends.md, as it stands there --------------------------------

DOCS = Path(__file__).parent.parent / "docs" / "backends.md"


def _docs_example(tmp_path: Path) -> Path:
    """docs/backends.md's module and entry point, installed the way pip would lay them out."""
    text = DOCS.read_text()
    (module,) = [
        block for block in text.split("```python\n")[1:] if "threadpool_backend" in block[:80]
    ]
    toml_line = next(line for line in text.splitlines() if line.startswith("threads = "))
    name, _, value = toml_line.partition(" = ")
    entry = f"{name} = {value.strip().strip(chr(34))}"  # entry_points.txt has no TOML quotes
    site = tmp_path / "site"
    dist = site / "threadpool_backend-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "threadpool_backend.py").write_text(module.split("```")[0])
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: threadpool-backend\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(f"[packtivity.backends]\n{entry}\n")
    return site


def test_docs_backend_example_by_entry_point_and_fromenv(cli, tmp_path: Path) -> None:
    site = _docs_example(tmp_path)
    write_spec(tmp_path, "step.yml", host_spec("echo {word} > {out}", {"out": "{out}"}))
    env = {"PYTHONPATH": str(site)}
    args = ("-t", str(tmp_path), "step.yml", "-p", "out={workdir}/o.txt")
    by_entry_point = cli(
        "packtivity-run",
        *args,
        "-p",
        "word=entry",
        "-w",
        str(tmp_path / "a"),
        "-b",
        "threads:2",
        env=env,
    )
    assert by_entry_point.returncode == 0, by_entry_point.stderr
    assert (tmp_path / "a" / "o.txt").read_text() == "entry\n"
    assert json.loads(by_entry_point.stdout) == {"out": f"{tmp_path}/a/o.txt"}

    (tmp_path / "opts.yml").write_text("threads: 3\n")
    fromenv = {
        **env,
        "PACKTIVITY_ASYNCBACKEND": "threadpool_backend:ThreadBackend:ThreadProxy",
        "PACKTIVITY_ASYNCBACKEND_OPTS": str(tmp_path / "opts.yml"),
    }
    by_env = cli(
        "packtivity-run",
        *args,
        "-p",
        "word=env",
        "-w",
        str(tmp_path / "b"),
        "-b",
        "fromenv",
        env=fromenv,
    )
    assert by_env.returncode == 0, by_env.stderr
    assert (tmp_path / "b" / "o.txt").read_text() == "env\n"

    refused = cli("packtivity-run", *args, "-p", "word=x", "-b", "threads", "--async", env=env)
    assert_one_line_error(refused, "--async", "cannot be saved")


def test_docs_backend_example_reports_a_failing_step(cli, tmp_path: Path) -> None:
    site = _docs_example(tmp_path)
    write_spec(tmp_path, "step.yml", host_spec("echo broken >&2; exit 4"))
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-w",
        str(tmp_path / "w"),
        "-b",
        "threads",
        env={"PYTHONPATH": str(site)},
    )
    assert r.returncode == 1
    assert "failed with exit code 4" in r.stderr and "broken" in r.stderr
    assert "Traceback" not in r.stderr


def test_broken_entry_point_is_one_line(cli, tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "brokenplugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[packtivity.backends]\nbroken = no_such_module:f\n")
    write_spec(tmp_path, "step.yml", host_spec("true"))
    r = cli(
        "packtivity-run",
        "-t",
        str(tmp_path),
        "step.yml",
        "-b",
        "broken",
        env={"PYTHONPATH": str(site)},
    )
    assert_one_line_error(r, "cannot load entry point 'broken = no_such_module:f'", "No module")


def test_pool_backend_without_its_extra_names_the_extra(monkeypatch) -> None:
    """The pool libraries are installed here, so a missing one is simulated by asking for a
    library that does not exist in its place."""
    from packtivity import pools

    monkeypatch.setitem(pools.NEEDS, "celery", ("no_such_library_for_celery",))
    with pytest.raises(BackendError, match=r"pip install 'packtivity\[celery\]'"):
        backend_from_string("celery")
    with pytest.raises(BackendError, match="the celery backend is just 'celery'"):
        backend_from_string("celery:fast")
