"""Spec loading through yadage-schemas: toplevels, $ref, JSON pointers, defaults, errors."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from packtivity.errors import SpecError
from packtivity.spec import load_spec, resolve_toplevel
from packtivity.utils import load_packtivity


def test_defaults_reach_ref_targets(specs: Path) -> None:
    """The environment is a $ref into another file: its defaults must be filled in too
    (the original left them out and failed later with KeyError)."""
    spec = load_spec("docker.yml", str(specs))
    env = spec["environment"]
    assert env["image"] == "busybox" and env["imagetag"] == "1.36"
    assert env["par_mounts"] == [] and env["resources"] == [] and env["env"] == {}
    assert env["workdir"] is None and env["envscript"] == ""


def test_pointer_fragment_and_ref_publisher(specs: Path) -> None:
    spec = load_spec("steps.yml#/hello", str(specs))
    assert spec["process"]["cmd"].startswith("echo hello")
    assert spec["publisher"] == {
        "publisher_type": "frompar-pub",
        "outputmap": {"output": "outputfile"},
    }


def test_script_interpreter_default(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text(
        "process: {process_type: interpolated-script-cmd, script: 'echo'}\n"
        "environment: {environment_type: localproc-env}\n"
        "publisher: {publisher_type: fromparjq-pub}\n"
    )
    spec = load_spec("s.yml", str(tmp_path))
    assert spec["process"]["interpreter"] == "sh"
    assert spec["publisher"] == {
        "publisher_type": "fromparjq-pub",
        "script": ".",
        "tryExact": True,
        "glob": False,
        "relative_paths": False,
    }


def test_file_url_toplevel(specs: Path) -> None:
    assert load_spec("cmd.yml", f"file://{specs}")["process"]["cmd"].startswith("echo")


def test_load_packtivity_keeps_the_original_signature(specs: Path, monkeypatch) -> None:
    monkeypatch.chdir(specs)
    assert load_packtivity("cmd.yml")["environment"]["environment_type"] == "localproc-env"
    assert load_packtivity("cmd.yml", toplevel=str(specs), validate=False)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            "process: {process_type: string-interpolated-cmd}\nenvironment: null\n"
            "publisher: {publisher_type: constant-pub, publish: {}}\n",
            "at /process: 'cmd' is a required property",
        ),
        (
            "process: null\nenvironment: null\npublisher: {publisher_type: nope-pub}\n",
            "at /publisher: unknown publisher_type 'nope-pub'; known: constant-pub",
        ),
        (
            "process: null\nenvironment: {environment_type: docker-encapsulated, image: 3}\n"
            "publisher: {publisher_type: constant-pub, publish: {}}\n",
            "at /environment/image: 3 is not of type 'string'",
        ),
        ("process: null\nenvironment: null\n", "'publisher' is a required property"),
        ("process: [\n", "is not valid YAML"),
        ("- a list\n", "is not a mapping"),
    ],
)
def test_invalid_specs_name_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "bad.yml").write_text(content)
    with pytest.raises(SpecError) as info:
        load_spec("bad.yml", str(tmp_path))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_pointer(specs: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec("nothere.yml", str(specs))
    with pytest.raises(SpecError, match="toplevel directory .* does not exist"):
        load_spec("cmd.yml", str(tmp_path / "nodir"))
    with pytest.raises(SpecError, match="Unresolvable JSON pointer"):
        load_spec("steps.yml#/nosuchstep", str(specs))


def test_no_validation_still_fills_defaults(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text(
        "process: null\nenvironment: {environment_type: docker-encapsulated, image: x}\n"
        "publisher: {publisher_type: constant-pub, publish: {}}\nextra: 1\n"
    )
    spec = load_spec("s.yml", str(tmp_path), validate=False)
    assert spec["extra"] == 1
    with pytest.raises(SpecError, match="Additional properties"):
        load_spec("s.yml", str(tmp_path))


def test_github_toplevels_resolve_to_overridable_urls(monkeypatch) -> None:
    monkeypatch.setenv("PACKTIVITY_GITHUB_RAW_URL", "http://127.0.0.1:1/raw")
    assert (
        resolve_toplevel("github:me/repo@v1:sub/dir") == "http://127.0.0.1:1/raw/me/repo/v1/sub/dir"
    )
    assert resolve_toplevel("github:me/repo") == "http://127.0.0.1:1/raw/me/repo/main"
    monkeypatch.setenv("PACKTIVITY_FROMGITHUB_URL", "http://127.0.0.1:1/wf")
    assert resolve_toplevel("from-github/physics/steps") == "http://127.0.0.1:1/wf/physics/steps"


@pytest.fixture
def spec_server(specs: Path, tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving the spec tree, also under a github-like layout."""
    root = tmp_path / "www"
    (root / "specs").mkdir(parents=True)
    github_tree = root / "raw" / "someone" / "workflows" / "v2" / "steps"
    github_tree.mkdir(parents=True)
    for spec_file in specs.iterdir():
        (root / "specs" / spec_file.name).write_bytes(spec_file.read_bytes())
        (github_tree / spec_file.name).write_bytes(spec_file.read_bytes())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_toplevel(spec_server: str) -> None:
    spec = load_spec("docker.yml", f"{spec_server}/specs")
    assert spec["environment"]["par_mounts"] == []  # $ref across http files, defaults filled
    assert load_spec("steps.yml#/hello", f"{spec_server}/specs/")["publisher"]["outputmap"]


def test_github_toplevel_against_local_server(spec_server: str, monkeypatch) -> None:
    monkeypatch.setenv("PACKTIVITY_GITHUB_RAW_URL", f"{spec_server}/raw")
    spec = load_spec("steps.yml#/glob", "github:someone/workflows@v2:steps")
    assert spec["publisher"]["publisher_type"] == "fromglob-pub"


def test_http_missing_spec_is_one_error(spec_server: str) -> None:
    with pytest.raises(SpecError, match="cannot load spec"):
        load_spec("nothere.yml", f"{spec_server}/specs")


# --- the spec cache (packtivity/speccache.py) -------------------------------------------------

SELF_CONTAINED = (
    "process: {process_type: string-interpolated-cmd, cmd: 'echo {message}'}\n"
    "environment: {environment_type: localproc-env}\n"
    "publisher: {publisher_type: constant-pub, publish: {}}\n"
)


def _cache_entries() -> list[Path]:
    from packtivity.speccache import cache_dir

    directory = Path(cache_dir())
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def test_a_second_load_of_the_same_file_comes_from_the_cache(tmp_path: Path) -> None:
    """The entry is what the second load returns (marked here to tell it from a fresh load);
    an edited file is a miss."""
    from packtivity.speccache import store

    (tmp_path / "s.yml").write_text(SELF_CONTAINED)
    first = load_spec("s.yml", str(tmp_path))
    [entry] = _cache_entries()
    assert json.loads(entry.read_text())["spec"] == first
    store(entry.stem, {**first, "marker": "from the cache"})  # a well-formed entry
    assert load_spec("s.yml", str(tmp_path))["marker"] == "from the cache"
    assert load_spec(str(tmp_path / "s.yml"), "/")["marker"] == "from the cache"

    (tmp_path / "s.yml").write_text(SELF_CONTAINED.replace("{message}", "{other}"))
    edited = load_spec("s.yml", str(tmp_path))
    assert "marker" not in edited and edited["process"]["cmd"] == "echo {other}"
    assert len(_cache_entries()) == 2


def test_a_damaged_or_foreign_cache_entry_is_ignored_and_replaced(tmp_path: Path) -> None:
    """The cache checks what it reads: an entry replaced by ``{}``, one whose spec does not
    match its digest, or one stored under another key is never used."""
    (tmp_path / "s.yml").write_text(SELF_CONTAINED)
    first = load_spec("s.yml", str(tmp_path))
    [entry] = _cache_entries()
    good = json.loads(entry.read_text())
    tampered = {**good, "spec": {**good["spec"], "publisher": {"publisher_type": "x"}}}
    damaged = ["{}", "[]", "not json", json.dumps(tampered), json.dumps({**good, "key": "other"}),
               json.dumps({**good, "spec": {}})]  # fmt: skip
    for text in damaged:
        entry.write_text(text)
        assert load_spec("s.yml", str(tmp_path)) == first, text
        assert json.loads(entry.read_text()) == good  # replaced by the fresh load


def test_a_cache_hit_imports_neither_yadage_schemas_nor_jsonschema(tmp_path: Path) -> None:
    """What the cache is for: a new process that loads a known spec skips those imports."""
    (tmp_path / "s.yml").write_text(SELF_CONTAINED)
    program = (
        "import sys; from packtivity.spec import load_spec; "
        f"load_spec('s.yml', {str(tmp_path)!r}); "
        "print(sorted(m for m in ('jsonschema', 'yadageschemas', 'yaml') if m in sys.modules))"
    )
    runs = [subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
            for _ in range(2)]  # fmt: skip
    assert [run.stdout.strip() for run in runs] == [
        "['jsonschema', 'yadageschemas', 'yaml']",
        "[]",
    ]


def test_specs_with_refs_failures_and_unvalidated_loads_are_not_cached(
    specs: Path, tmp_path: Path
) -> None:
    load_spec("docker.yml", str(specs))  # its environment is a $ref into another file
    load_spec("steps.yml#/hello", str(specs))  # its publisher is a $ref
    (tmp_path / "bad.yml").write_text(SELF_CONTAINED + "extra: 1\n")
    load_spec("bad.yml", str(tmp_path), validate=False)
    with pytest.raises(SpecError, match="Additional properties"):
        load_spec("bad.yml", str(tmp_path))
    assert _cache_entries() == []


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "not-a-directory").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-directory"))
    (tmp_path / "s.yml").write_text(SELF_CONTAINED)
    assert load_spec("s.yml", str(tmp_path)) == load_spec("s.yml", str(tmp_path))
