"""Backends from strings (built-in, py:, fromenv, entry points), proxies, plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
