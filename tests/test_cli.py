"""The console scripts as a user runs them: flags, output, exit codes, one-line errors,
atomic output files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import BIN, assert_one_line_error, assert_one_line_error_any


def packtivity_run(cli, specs: Path, *args: str):
    """``packtivity-run -t <tests/specs> ARGS...`` as a real process."""
    return cli("packtivity-run", "-t", str(specs), *args)


def test_run_prints_result_and_writes_outfile(cli, specs: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    r = packtivity_run(
        cli,
        specs,
        "cmd.yml",
        "-p",
        "message=hello world",
        "-p",
        "outputfile={workdir}/o.txt",
        "-w",
        "wd",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    expected = {"output": f"{tmp_path}/wd/o.txt"}
    assert json.loads(r.stdout.strip().splitlines()[-1]) == expected
    assert json.loads(out.read_text()) == expected
    assert (tmp_path / "wd" / "o.txt").read_text() == "hello world\n"
    assert "prepublished" in r.stderr


def test_parameter_files_state_file_and_read_dirs(cli, specs: Path, tmp_path: Path) -> None:
    (tmp_path / "pars.yml").write_text("message: from-file\noutputfile: '{workdir}/f.txt'\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "state.yml").write_text(f"readwrite: [{tmp_path}/sw]\nreadonly: [{tmp_path}/in]\n")
    r = packtivity_run(
        cli,
        specs,
        "cmd.yml",
        "pars.yml",
        "-p",
        "message=a=b=c",
        "-s",
        "state.yml",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sw" / "f.txt").read_text() == "a=b=c\n"  # split on the first '=' only


def test_yaml_typed_parameters(cli, specs: Path, tmp_path: Path) -> None:
    r = packtivity_run(cli, specs, "purepub.yml", "-p", "a=3", "-p", "b=[x, 2]")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"first": 3, "nested": {"second": ["x", 2]}}


def test_failed_step_exit_1_with_tail(cli, specs: Path) -> None:
    r = packtivity_run(cli, specs, "fail.yml", "-p", "code=3")
    assert r.returncode == 1
    assert "failed with exit code 3" in r.stderr and "bad things" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["nothere.yml"], ["does not exist"]),
        (["cmd.yml", "-p", "message"], ["malformed parameter 'message'", "-p name=value"]),
        (["cmd.yml", "-p", "outputfile=x"], ["'{message}'", "parameters: outputfile"]),
        (
            ["cmd.yml", "-p", "message=x", "-p", "outputfile=y", "-b", "nope"],
            ["unknown backend 'nope'", "defaultsync", "multiproc:N|auto"],
        ),
        (
            ["cmd.yml", "-p", "message=x", "-p", "outputfile=y", "-b", "multiproc:x"],
            ["multiproc:N"],
        ),
        (["cmd.yml", "nopars.yml"], ["cannot read parameter file 'nopars.yml'"]),
        (["cmd.yml", "-s", "nostate.yml"], ["cannot read state file 'nostate.yml'"]),
        (["cmd.yml", "-v", "LOUD"], ["unknown verbosity 'LOUD'"]),
        (["steps.yml#/missing"], ["Unresolvable JSON pointer"]),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, specs: Path, args: list, fragments: list) -> None:
    assert_one_line_error(packtivity_run(cli, specs, *args), *fragments)


def test_bad_parameter_file_content(cli, specs: Path, tmp_path: Path) -> None:
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    assert_one_line_error(packtivity_run(cli, specs, "cmd.yml", "list.yml"), "must hold a mapping")
    (tmp_path / "broken.yml").write_text("a: [\n")
    assert_one_line_error(packtivity_run(cli, specs, "cmd.yml", "broken.yml"), "is not valid YAML")


def test_invalid_spec_names_json_path(cli, tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(
        "process: {process_type: string-interpolated-cmd}\nenvironment: null\n"
        "publisher: {publisher_type: constant-pub, publish: {}}\n"
    )
    assert_one_line_error(
        cli("packtivity-run", "bad.yml"), "at /process: 'cmd' is a required property"
    )
    validated = cli("packtivity-validate", "bad.yml")
    assert validated.returncode == 1  # the answer to the question asked: not valid
    assert_one_line_error_any(validated, "at /process")


def test_validate_exit_codes_are_a_linters(cli, tmp_path: Path) -> None:
    """0 valid, 1 not valid (schema, YAML, shape), 2 could not check (missing file, usage);
    the original's own CLI test asserts 1 for an invalid spec."""
    (tmp_path / "notyaml.yml").write_text("process: [\n")
    (tmp_path / "list.yml").write_text("- a\n")
    for name in ("notyaml.yml", "list.yml"):
        result = cli("packtivity-validate", name)
        assert result.returncode == 1, (name, result.stderr)
        assert_one_line_error_any(result, name)
    assert_one_line_error(cli("packtivity-validate", "missing.yml"), "does not exist")
    assert cli("packtivity-validate").returncode == 2  # usage


def test_validate_show(cli, specs: Path) -> None:
    r = cli("packtivity-validate", "-t", str(specs), "docker.yml", "--show")
    assert r.returncode == 0
    assert json.loads(r.stdout)["environment"]["imagetag"] == "1.36"
    r = cli("packtivity-validate", "-t", str(specs), "docker.yml")
    assert r.returncode == 0 and "valid" in r.stdout


def test_async_proxy_then_checkproxy(cli, specs: Path, tmp_path: Path) -> None:
    r = packtivity_run(
        cli,
        specs,
        "cmd.yml",
        "-p",
        "message=m",
        "-p",
        "outputfile={workdir}/o",
        "-b",
        "foregroundasync",
        "--async",
        "-x",
        "p.json",
    )
    assert r.returncode == 0, r.stderr
    proxy = json.loads((tmp_path / "p.json").read_text())
    assert proxy["proxyname"] == "ForegroundProxy"
    assert json.loads(r.stdout) == proxy  # stdout is the proxy's JSON; the label is on stderr
    assert "proxy written to p.json" in r.stderr
    for _ in range(2):  # any number of checks give the same answer
        c = cli("packtivity-checkproxy", "p.json", "-o", "res.json")
        assert c.returncode == 0, c.stderr
        assert "ready: True" in c.stdout and "successful: True" in c.stdout
        assert json.loads((tmp_path / "res.json").read_text()) == {"output": f"{tmp_path}/o"}


def test_async_failed_step_checkproxy_exit_1(cli, specs: Path, tmp_path: Path) -> None:
    r = packtivity_run(
        cli,
        specs,
        "fail.yml",
        "-p",
        "code=4",
        "-b",
        "foregroundasync",
        "--async",
    )
    assert r.returncode == 0, r.stderr
    c = cli("packtivity-checkproxy", "proxy.json")
    assert c.returncode == 1 and "successful: False" in c.stdout and "exit code 4" in c.stdout


def test_multiproc_async_refuses_clearly(cli, specs: Path, tmp_path: Path) -> None:
    r = packtivity_run(
        cli,
        specs,
        "cmd.yml",
        "-p",
        "message=m",
        "-p",
        "outputfile=o",
        "-b",
        "multiproc:2",
        "--async",
    )
    assert_one_line_error(r, "cannot be saved", "--asyncwait")
    assert not (tmp_path / "proxy.json").exists()
    (tmp_path / "mp.json").write_text(
        json.dumps({"proxyname": "PacktivityProxyBase", "proxydetails": None})
    )
    assert_one_line_error(cli("packtivity-checkproxy", "mp.json"), "cannot be saved")


def test_multiproc_asyncwait(cli, specs: Path, tmp_path: Path) -> None:
    r = packtivity_run(
        cli,
        specs,
        "cmd.yml",
        "-p",
        "message=mp",
        "-p",
        "outputfile={workdir}/o",
        "-b",
        "multiproc:2",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o").read_text() == "mp\n"
    r = packtivity_run(cli, specs, "fail.yml", "-p", "code=5", "-b", "multiproc:auto")
    assert r.returncode == 1 and "exit code 5" in r.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read proxy file"),
        ("{not json", "is not valid JSON"),
        ('{"a": 1}', "not a packtivity proxy"),
        ('{"proxyname": "Nope", "proxydetails": {}}', "unknown proxy type 'Nope'"),
    ],
)
def test_bad_proxies(cli, tmp_path: Path, content, fragment: str) -> None:
    if content is not None:
        (tmp_path / "proxy.json").write_text(content)
    assert_one_line_error(cli("packtivity-checkproxy", "proxy.json"), fragment)


def test_outfile_is_atomic_and_never_clobbered_on_failure(cli, specs: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    out.write_text('{"previous": true}')
    r = packtivity_run(cli, specs, "fail.yml", "-p", "code=2", "-o", str(out))
    assert r.returncode == 1
    assert out.read_text() == '{"previous": true}'
    r = packtivity_run(
        cli,
        specs,
        "purepub.yml",
        "-p",
        "a=1",
        "-p",
        "b=2",
        "-o",
        "nodir/out.json",
    )
    assert_one_line_error(r, "cannot write 'nodir/out.json'", "does not exist")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_writer_leaves_old_file_when_serialisation_fails(tmp_path: Path) -> None:
    from packtivity.atomicfile import write_json_atomic

    target = tmp_path / "f.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.json"]
    write_json_atomic(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}


def test_every_option_has_help(cli) -> None:
    for command in (
        ["packtivity-run"],
        ["packtivity-validate"],
        ["packtivity-checkproxy"],
        ["packtivity-util", "pubtest"],
        ["packtivity-util", "shell"],
    ):
        r = cli(*command, "--help")
        assert r.returncode == 0
        options = [line for line in r.stdout.splitlines() if line.strip().startswith("-")]
        assert options
        for line in options:
            assert len(line.split("  ")) > 1 or line.strip().endswith("]"), line


def test_util_pubtest(cli, specs: Path, tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    for name in ("b.txt", "a.txt"):
        (tmp_path / "w" / name).write_text("")
    r = cli("packtivity-util", "pubtest", "-t", str(specs), "steps.yml#/glob", "-w", "w")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"files": [f"{tmp_path}/w/a.txt", f"{tmp_path}/w/b.txt"]}


def test_failing_jq_script_is_one_line_naming_it(cli, tmp_path: Path) -> None:
    """A par_mounts jq script that fails on the parameters ('Cannot iterate over string') and
    a publisher's jq script that does not compile are bad input: exit 2, one line naming the
    par_mount or publisher and jq's message (before: 'unexpected ValueError', exit 1)."""
    (tmp_path / "image.sif").write_text("")
    (tmp_path / "mount.yml").write_text(
        "process: {process_type: string-interpolated-cmd, cmd: 'cat /etc/conf.json'}\n"
        "environment:\n"
        "  environment_type: docker-encapsulated\n"
        f"  image: {tmp_path}/image.sif\n"
        "  par_mounts: [{jqscript: '.items[]', mountpath: /etc/conf.json}]\n"
        "publisher: {publisher_type: constant-pub, publish: {}}\n"
    )
    result = cli("packtivity-run", "mount.yml", "-p", "items=abc", "-w", str(tmp_path / "w"))
    assert result.returncode == 2
    assert_one_line_error_any(
        result, "par_mounts[0] (mountpath /etc/conf.json)", "'.items[]'", "Cannot iterate over"
    )
    (tmp_path / "pub.yml").write_text(
        "process: null\nenvironment: null\n"
        "publisher: {publisher_type: fromparjq-pub, script: '{a: .x'}\n"
    )
    result = cli("packtivity-run", "pub.yml", "-p", "x=1", "-w", str(tmp_path / "w"))
    assert_one_line_error(result, "fromparjq-pub: jq script '{a: .x'", "compile")


def test_every_command_has_version(cli) -> None:
    """``--version`` (and ``-V``) on every command and ``python -m packtivity``, the installed
    distribution's version (one source: packtivity.__version__)."""
    import subprocess
    import sys
    from importlib.metadata import version

    expected = f"packtivity, version {version('packtivity')}"
    for command in ("packtivity-run", "packtivity-validate", "packtivity-checkproxy"):
        result = cli(command, "--version")
        assert (result.returncode, result.stdout.strip()) == (0, expected), command
    assert cli("packtivity-util", "-V").stdout.strip() == expected
    module = subprocess.run(
        [sys.executable, "-m", "packtivity", "--version"], capture_output=True, text=True
    )
    assert module.stdout.strip() == expected
    helped = subprocess.run(
        [sys.executable, "-m", "packtivity", "validate", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "python -m packtivity validate" in helped.stdout


def test_no_color_and_non_terminals_get_no_colour(specs: Path, tmp_path: Path) -> None:
    """On a terminal packtivity-validate's answer is green; with NO_COLOR set it is not, nor
    where the output is not a terminal."""
    import pty
    import subprocess

    def on_a_terminal(argv: list[str], env: dict) -> bytes:
        primary, secondary = pty.openpty()
        with subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary,
                              env={**os.environ, **env}) as proc:  # fmt: skip
            os.close(secondary)
            output = b""
            while True:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            proc.wait(timeout=60)
        os.close(primary)
        return output

    validate = [str(BIN / "packtivity-validate"), "-t", str(specs), "docker.yml"]
    assert b"\x1b[" in on_a_terminal(validate, {})
    assert b"\x1b[" not in on_a_terminal(validate, {"NO_COLOR": "1"})
    piped = subprocess.run(validate, capture_output=True, check=True)
    assert b"\x1b[" not in piped.stdout


def test_verbose_and_quiet_count_and_level_names_still_work(cli, specs: Path) -> None:
    """-v/-vv/-vvv (more), -q (less), and the original's ``-v LEVEL`` / ``--verbosity LEVEL``."""
    base = ["-t", str(specs), "cmd.yml", "-p", "message=hi", "-p", "outputfile={workdir}/o"]

    def levels(*flags: str) -> set[str]:
        result = cli("packtivity-run", *flags, *base)
        assert result.returncode == 0, result.stderr
        return {level for level in ("DEBUG", "INFO") if f"| {level:>5} |" in result.stderr or
                f"{level} " in result.stderr}  # fmt: skip

    assert levels() == set()
    assert levels("-vv") == {"INFO"}
    assert "DEBUG" in levels("-vvv")
    assert levels("-v", "INFO") == {"INFO"}  # the original's form
    assert levels("--verbosity", "INFO") == {"INFO"}
    assert levels("--verbosity", "INFO", "-q") == set()
    bad = cli("packtivity-run", "--verbosity", "LOUD", *base)
    assert_one_line_error(bad, "unknown verbosity 'LOUD'")
