"""docker-encapsulated steps under the real Apptainer of the test cluster, and the pieces that
decide what runs: image resolution, binds, the argument list, the job body and the run record.

Unit tests work on real files in temporary directories; tests that take the ``apptainer`` or
``registry`` fixture run the real runtime on the test images (and pull from the registry on
127.0.0.1).  Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, assert_one_line_error, assert_one_line_error_any
from goldenfiles import assert_golden
from stepspecs import container_spec, write_spec

from packtivity.apptainer.images import cache_name, image_reference, resolve_image
from packtivity.apptainer.settings import container_config
from packtivity.errors import BackendError, ContainerRuntimeError, SpecError, StepFailed
from packtivity.hosts import local_host

STEP = "packtivity"  #: packtivity-run's default --name: its files are packtivity-<run id>.*
LOG = __import__("logging").getLogger("test")


def record(workdir: Path) -> dict:
    """The one run record in ``workdir`` (the step's name depends on the backend)."""
    (path,) = (workdir / "_packtivity").glob("*.run.json")
    return json.loads(path.read_text())


# ---- image names and resolution (real files, no runtime) ----------------------------------


def test_cache_names_replace_slashes_and_colons() -> None:
    assert cache_name("atlas/analysisbase:21.2.4") == "atlas_analysisbase_21.2.4.sif"
    assert cache_name("docker://127.0.0.1:5055/a/b:1.0") == "127.0.0.1_5055_a_b_1.0.sif"
    assert cache_name("oras://host/x:1") == "oras___host_x_1.sif"


def test_image_reference_adds_the_tag_and_rejects_shell_characters() -> None:
    assert image_reference({"image": "busybox", "imagetag": "1.36"}) == "busybox:1.36"
    assert image_reference({"image": "/images/x.sif", "imagetag": "latest"}) == "/images/x.sif"
    assert image_reference({"image": "a/b@sha256:00ff", "imagetag": "latest"}) == "a/b@sha256:00ff"
    with pytest.raises(SpecError, match="not a valid image reference"):
        image_reference({"image": "x; rm -rf ~", "imagetag": "1"})


def resolve(tmp_path: Path, environment: dict, **options) -> tuple[str, str]:
    settings = container_config({"cachedir": str(tmp_path / "cache"), **options})
    image = resolve_image(environment, settings, local_host(), log=LOG)
    return image.path, image.source


def test_resolution_order_map_then_cache_then_local(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PACKTIVITY_APPTAINER_CACHEDIR")
    (tmp_path / "cache").mkdir()
    local = tmp_path / "local.sif"
    local.write_bytes(b"local")
    env = {"image": "busybox", "imagetag": "1.36"}
    with pytest.raises(ContainerRuntimeError, match="not in the cache"):
        resolve(tmp_path, env)
    assert resolve(tmp_path, {"image": str(local), "imagetag": "latest"}) == (str(local), "local")

    cached = tmp_path / "cache" / "busybox_1.36.sif"
    cached.write_bytes(b"cached")
    assert resolve(tmp_path, env) == (str(cached), "cache")

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "bb.sif").write_bytes(b"site")
    image_map = tmp_path / "site" / "images.yml"
    image_map.write_text("busybox:1.36: bb.sif\nother: /nowhere.sif\n")
    path, source = resolve(tmp_path, env, image_map=str(image_map))
    assert path == str(tmp_path / "site" / "bb.sif") and source.startswith("image map")
    with pytest.raises(ContainerRuntimeError, match="maps other:9 to /nowhere.sif"):
        resolve(tmp_path, {"image": "other", "imagetag": "9"}, image_map=str(image_map))


def test_image_digests_are_remembered_until_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PACKTIVITY_APPTAINER_CACHEDIR")
    image = tmp_path / "big.sif"
    image.write_bytes(b"image")
    settings = container_config({"cachedir": str(tmp_path / "cache")})
    env = {"image": str(image), "imagetag": "latest"}

    def digest() -> str | None:
        return resolve_image(env, settings, local_host(), log=LOG).sha256

    assert digest() == hashlib.sha256(b"image").hexdigest()
    (memo,) = (tmp_path / "cache" / ".sha256").iterdir()
    memo.write_text(memo.read_text().rsplit(" ", 1)[0] + " " + "ab" * 32 + "\n")
    assert digest() == "ab" * 32  # remembered, not hashed again
    image.write_bytes(b"replaced image")  # another size: hashed again
    assert digest() == hashlib.sha256(b"replaced image").hexdigest()


@pytest.mark.parametrize(
    ("setting", "fragments"),
    [
        ("PACKTIVITY_APPTAINER_IMAGE_MAP", ["image map", "must map image[:tag]"]),
        ("PACKTIVITY_CONTAINER_RUNTIME", ["unknown container runtime 'docker'", "singularity"]),
    ],
)
def test_bad_container_settings_are_one_line(
    tmp_path: Path, cli, specs: Path, setting: str, fragments: list[str]
) -> None:
    bad_map = tmp_path / "map.yml"
    bad_map.write_text("- just\n- a list\n")
    value = str(bad_map) if setting.endswith("MAP") else "docker"
    result = cli(
        "packtivity-run",
        "-t",
        str(specs),
        "docker.yml",
        "-w",
        str(tmp_path / "w"),
        env={setting: value},
    )
    assert result.returncode == 2
    assert_one_line_error(result, *fragments)


def test_containment_setting_must_be_a_boolean() -> None:
    with pytest.raises(BackendError, match="contain must be true or false"):
        container_config({"contain": "sometimes"}).contain()


# ---- generated scripts against golden files --------------------------------------------


def _placeholders(text: str, tmp_path: Path) -> str:
    return text.replace(str(tmp_path), "@TMP@")


def test_container_job_body_golden(tmp_path: Path, monkeypatch) -> None:
    from packtivity.handlers.environment_handlers import docker
    from packtivity.jobscript import render_job_body
    from packtivity.plan import container_job_body
    from packtivity.statecontexts import LocalFSState
    from packtivity.syncbackends import ExecutionConfig, finalize_inputs

    for name in ("work", "inputs", "auth"):
        (tmp_path / name).mkdir()
    (tmp_path / "analysis.sif").write_bytes(b"not really an image")
    monkeypatch.setenv("PACKTIVITY_AUTH_LOCATION", str(tmp_path / "auth"))
    monkeypatch.setenv("PACKTIVITY_CVMFS_LOCATION", str(tmp_path / "no-cvmfs"))
    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    environment = {
        "environment_type": "docker-encapsulated",
        "image": str(tmp_path / "analysis.sif"),
        "imagetag": "latest",
        "envscript": "/opt/setup.sh",
        "env": {"GREETING": "hello, world", "QUOTED": "it's"},
        "resources": ["CVMFS", "GRIDProxy", {"gpus": 1}],
        "par_mounts": [{"jqscript": ".events", "mountpath": "/config/events.txt"}],
        "workdir": None,
    }
    state = LocalFSState([str(tmp_path / "work")], [str(tmp_path / "inputs")])
    parameters, state = finalize_inputs({"events": 1000}, state)
    job = {"script": "import sys\nprint(sys.argv)\n", "interpreter": "python3 -u"}
    body = container_job_body(
        ExecutionConfig(),
        docker(environment, parameters, state),
        state,
        job,
        {"name": "analysis"},
        state.metadir,
        LOG,
    )
    assert body.files == {f"{state.metadir}/analysis.parmount0.txt": "1000"}
    assert_golden("job-container.sh", _placeholders(render_job_body(body), tmp_path))


def test_host_and_batch_job_bodies_golden() -> None:
    from packtivity.jobscript import JobBody, job_argv, render_job_body

    argv, stdin = job_argv({"command": "echo 'a b' > out.txt"})
    body = JobBody(
        step="hello",
        cwd="/data/work",
        argv=argv,
        stdin=stdin,
        script_path="/data/work/_packtivity/hello.job.sh",
        record_path="/data/work/_packtivity/hello.run.json",
    )
    assert_golden("job-host.sh", render_job_body(body))
    batch = JobBody(
        **{
            **body.__dict__,
            "logfile": "/data/work/_packtivity/hello.run.log",
            "job_id_variable": "SLURM_JOB_ID",
        }
    )
    assert_golden("job-batch.sh", render_job_body(batch))


def test_pull_script_golden() -> None:
    from packtivity.apptainer.images import pull_script

    script = pull_script("apptainer", "docker://registry.example:5000/a/b:1.0", "/c/a_b_1.0.sif")
    assert_golden("pull.sh", script)


# ---- real Apptainer ----------------------------------------------------------------------


def run_step(cli, directory: Path, spec: dict, *args: str, env: dict | None = None):
    name = write_spec(directory, "step.yml", spec)
    return cli("packtivity-run", "-t", str(directory), name, *args, env=env)


def test_command_step_writes_publishes_and_records(apptainer, cli, tmp_path: Path) -> None:
    image = apptainer.image("busybox")
    spec = container_spec(
        str(image),
        {"process_type": "string-interpolated-cmd", "cmd": "echo $PACKTIVITY_TEST_IMAGE > {out}"},
        {"out": "{out}"},
    )
    work = tmp_path / "w"
    result = run_step(cli, tmp_path, spec, "-p", "out={workdir}/out.txt", "-w", str(work))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"out": f"{work}/out.txt"}
    assert (work / "out.txt").read_text() == "busybox\n"  # written inside the image
    rec = record(work)
    assert rec["exit_code"] == 0 and rec["signal"] is None and rec["stdin"] is False
    assert rec["runtime"] == "apptainer" and rec["runtime_version"].startswith("apptainer version")
    assert rec["image"] == {
        "reference": str(image),
        "path": str(image),
        "source": "local",
        "sha256": hashlib.sha256(image.read_bytes()).hexdigest(),
    }
    assert rec["host"] == os.uname().nodename and rec["cwd"] == str(work)
    assert rec["command_line"].startswith("apptainer exec --containall --pwd " + str(work))
    assert rec["start"] <= rec["end"] and rec["end"].endswith("Z")


def test_script_step_in_python_image(apptainer, cli, tmp_path: Path) -> None:
    spec = container_spec(
        str(apptainer.image("python")),
        {
            "process_type": "interpolated-script-cmd",
            "interpreter": "python3 -u",
            "script": "import sys\n"
            "open('{out}', 'w').write('python %d n=%d' % (sys.version_info[0], {n}))\n",
        },
        {"data": "{out}"},
    )
    work = tmp_path / "w"
    result = run_step(
        cli, tmp_path, spec, "-p", "out={workdir}/d.txt", "-p", "n=7", "-w", str(work)
    )
    assert result.returncode == 0, result.stderr
    assert (work / "d.txt").read_text() == "python 3 n=7"
    assert record(work)["stdin"] is True


def test_readonly_dir_parmounts_env_and_envscript(apptainer, cli, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "data.txt").write_text("input data\n")
    work = tmp_path / "w"
    work.mkdir()
    (work / "setup.sh").write_text("export FROM_ENVSCRIPT=sourced\n")
    script = (
        "cat {inputs}/data.txt > report.txt\n"
        "touch {inputs}/new 2>/dev/null && echo ro-writable >> report.txt"
        " || echo ro-refused >> report.txt\n"
        "cat /etc/packtivity/pars.json >> report.txt; echo >> report.txt\n"
        'echo "env=$SPEC_VAR envscript=$FROM_ENVSCRIPT" >> report.txt\n'
    )
    spec = container_spec(
        str(apptainer.image("busybox")),
        {"process_type": "interpolated-script-cmd", "script": script},
        envscript=str(work / "setup.sh"),
        env={"SPEC_VAR": "a,b c=d"},
        par_mounts=[{"jqscript": "{n: .n}", "mountpath": "/etc/packtivity/pars.json"}],
    )
    result = run_step(
        cli,
        tmp_path,
        spec,
        "-p",
        f"inputs={inputs}",
        "-p",
        "n=5",
        "-w",
        str(work),
        "-r",
        str(inputs),
    )
    assert result.returncode == 0, result.stderr
    lines = (work / "report.txt").read_text().splitlines()
    assert lines[0] == "input data" and lines[1] == "ro-refused"
    assert json.loads(lines[2]) == {"n": 5}
    assert lines[-1] == "env=a,b c=d envscript=sourced"
    assert not (inputs / "new").exists()


def test_exit_code_3_fails_the_step_with_3_and_the_log_tail(apptainer, tmp_path: Path) -> None:
    import packtivity
    from packtivity.statecontexts import LocalFSState

    spec = container_spec(
        str(apptainer.image("busybox")),
        {"process_type": "interpolated-script-cmd", "script": "echo last words\nexit 3\n"},
    )
    state = LocalFSState([str(tmp_path / "w")])
    with pytest.raises(StepFailed) as info:
        packtivity.pack_object(spec)({}, state)
    assert info.value.returncode == 3
    assert "exit code 3" in str(info.value) and "last words" in info.value.log_tail
    assert record(tmp_path / "w")["exit_code"] == 3


def test_containment_hides_the_host_and_can_be_relaxed(apptainer, cli, tmp_path: Path) -> None:
    spec = container_spec(
        str(apptainer.image("busybox")),
        {
            "process_type": "string-interpolated-cmd",
            "cmd": 'echo "secret=$HOST_SECRET" > seen.txt; '
            "ls /tmp/hostmarker >> seen.txt 2>&1; true",
        },
    )
    marker = Path("/tmp/hostmarker")
    marker.mkdir(exist_ok=True)
    try:
        work = tmp_path / "w"
        env = {"HOST_SECRET": "s3cret"}
        assert run_step(cli, tmp_path, spec, "-w", str(work), env=env).returncode == 0
        contained = (work / "seen.txt").read_text()
        assert "secret=\n" in contained and "No such file" in contained
        relaxed_env = {**env, "PACKTIVITY_APPTAINER_CONTAIN": "false"}
        assert run_step(cli, tmp_path, spec, "-w", str(work), env=relaxed_env).returncode == 0
        assert (work / "seen.txt").read_text().startswith("secret=s3cret\n")
    finally:
        marker.rmdir()


def test_resources_bind_credentials_cvmfs_and_grid_proxy(apptainer, cli, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    auth.mkdir()
    (auth / "getkrb.sh").write_text("echo kerberos-ready\n")
    cvmfs = tmp_path / "cvmfs"
    (cvmfs / "atlas.cern.ch").mkdir(parents=True)
    proxy = tmp_path / "x509up_u0"
    proxy.write_text("PROXY\n")
    spec = container_spec(
        str(apptainer.image("busybox")),
        {
            "process_type": "string-interpolated-cmd",
            "cmd": "sh $KRB_SETUP_SCRIPT > seen.txt; ls /cvmfs >> seen.txt; "
            "cat $X509_USER_PROXY >> seen.txt; touch /cvmfs/x 2>/dev/null || echo ro >> seen.txt",
        },
        resources=["KRB5Auth", "CVMFS"],
    )
    work = tmp_path / "w"
    env = {
        "PACKTIVITY_AUTH_LOCATION": str(auth),
        "PACKTIVITY_CVMFS_LOCATION": str(cvmfs),
        "X509_USER_PROXY": str(proxy),
    }
    result = run_step(cli, tmp_path, spec, "-w", str(work), env=env)
    assert result.returncode == 0, result.stderr
    assert (work / "seen.txt").read_text() == "kerberos-ready\natlas.cern.ch\nPROXY\nro\n"
    missing = run_step(
        cli, tmp_path, spec, "-w", str(work), env={**env, "PACKTIVITY_AUTH_LOCATION": "/no/auth"}
    )
    assert missing.returncode == 3
    # names exactly the credential asked for and what to do; CVMFS is no credential
    assert_one_line_error_any(
        missing,
        "asks for KRB5Auth credentials",
        "auth location /no/auth",
        "PACKTIVITY_AUTH_LOCATION",
    )
    assert "CVMFS" not in missing.stderr
    no_cvmfs = run_step(
        cli, tmp_path, spec, "-w", str(work), env={**env, "PACKTIVITY_CVMFS_LOCATION": "/no/cvmfs"}
    )
    assert no_cvmfs.returncode == 0, no_cvmfs.stderr
    # said on the terminal, not only in the step log (before: only the log had it)
    assert "asked for CVMFS but /no/cvmfs does not exist" in no_cvmfs.stderr


@pytest.mark.parametrize("backend", ["defaultsync", "multiproc:1"])
def test_singularity_runtime_from_backend_options(
    apptainer, cli, tmp_path: Path, backend: str
) -> None:
    """Clusters with Singularity: the binary and its SINGULARITYENV_ variables (the test
    cluster's ``singularity`` is Apptainer's compatibility name), chosen by a backend option."""
    options = tmp_path / "options.yml"
    options.write_text("config: {exec: {containers: {runtime: singularity}}}\n")
    spec = container_spec(
        str(apptainer.image("busybox")),
        {"process_type": "string-interpolated-cmd", "cmd": "echo $V > v.txt"},
        env={"V": "via singularity"},
    )
    work = tmp_path / "w"
    env = {"PACKTIVITY_ASYNCBACKEND_OPTS": str(options)}
    result = run_step(cli, tmp_path, spec, "-b", backend, "-w", str(work), env=env)
    assert result.returncode == 0, result.stderr
    assert (work / "v.txt").read_text() == "via singularity\n"
    rec = record(work)
    assert rec["runtime"] == "singularity"
    assert rec["command_line"].startswith("env '")
    assert "SINGULARITYENV_V=via singularity" in rec["command_line"]


def test_dry_run_prints_and_runs_nothing(apptainer, cli, tmp_path: Path) -> None:
    spec = container_spec(
        str(apptainer.image("busybox")),
        {"process_type": "string-interpolated-cmd", "cmd": "touch ran"},
    )
    work = tmp_path / "w"
    dry = {"PACKTIVITY_DRYRUN": "1"}
    result = run_step(cli, tmp_path, spec, "-w", str(work), "-o", "out.json", env=dry)
    assert result.returncode == 0, result.stderr
    assert "dry run: would run: cd " in result.stderr and "apptainer exec" in result.stderr
    # nothing ran, so nothing is published (before: '{}' was printed as if it were a result)
    assert result.stdout == "" and "no result is published" in result.stderr
    assert not (tmp_path / "out.json").exists()
    assert not (work / "ran").exists()
    assert not list((work / "_packtivity").glob("*.run.json"))  # nothing ran, nothing recorded
    # the shell of a dry run is only printed (before: apptainer exec really ran)
    write_spec(tmp_path, "step.yml", spec)
    shell = cli("packtivity-util", "shell", "-t", str(tmp_path), "step.yml", "-w", str(work),
                env=dry)  # fmt: skip
    assert shell.returncode == 0 and shell.stdout.startswith("dry run: would open: cd "), shell
    assert "apptainer exec" in shell.stdout
    # a batch backend submits nothing: it shows what it would submit
    batch = run_step(cli, tmp_path, spec, "-b", "slurm", "-w", str(work), env=dry)
    assert batch.returncode == 0 and "#SBATCH" in batch.stdout, batch.stderr
    assert "dry run: nothing is submitted to slurm" in batch.stderr


def test_dry_run_of_a_pull_says_it_pulled_nothing(registry, cli, tmp_path: Path) -> None:
    """The step log of a dry run said '(pulled)' though nothing was pulled."""
    spec = container_spec(
        f"{registry.registry}/{registry.registry_image.split(':')[0]}",
        {"process_type": "string-interpolated-cmd", "cmd": "true"},
        imagetag=registry.registry_image.split(":")[1],
    )
    work = tmp_path / "w"
    result = run_step(cli, tmp_path, spec, "-w", str(work), env={"PACKTIVITY_DRYRUN": "1"})
    assert result.returncode == 0, result.stderr
    assert "dry run: would pull docker://" in result.stderr
    (steplog,) = (work / "_packtivity").glob("packtivity-*.step.log")
    assert "dry run: would be pulled from docker://" in steplog.read_text()
    assert "(pulled)" not in steplog.read_text()
    assert not list(Path(os.environ["PACKTIVITY_APPTAINER_CACHEDIR"]).glob("*.sif"))


def test_image_map_runs_a_docker_hub_reference_offline(
    apptainer, cli, specs: Path, tmp_path: Path
) -> None:
    """docker.yml asks for busybox:1.36; the site map points it at the test image."""
    image_map = tmp_path / "images.yml"
    image_map.write_text(f"busybox: {apptainer.image('busybox')}\n")
    result = cli(
        "packtivity-run",
        "-t",
        str(specs),
        "docker.yml",
        "-w",
        str(tmp_path / "w"),
        env={"PACKTIVITY_APPTAINER_IMAGE_MAP": str(image_map)},
    )
    assert result.returncode == 0, result.stderr
    assert record(tmp_path / "w")["image"]["source"] == f"image map {image_map}"


@pytest.mark.parametrize("backend", ["foregroundasync", "multiproc:2"])
def test_async_local_backends_run_container_steps(
    apptainer, cli, tmp_path: Path, backend: str
) -> None:
    spec = container_spec(
        str(apptainer.image("busybox")),
        {"process_type": "string-interpolated-cmd", "cmd": "echo {word} > {out}"},
        {"out": "{out}"},
    )
    work = tmp_path / "w"
    result = run_step(
        cli,
        tmp_path,
        spec,
        "-b",
        backend,
        "-p",
        "word=async",
        "-p",
        "out={workdir}/o.txt",
        "-w",
        str(work),
    )
    assert result.returncode == 0, result.stderr
    assert (work / "o.txt").read_text() == "async\n"


def test_util_shell_opens_the_step_container(apptainer, tmp_path: Path) -> None:
    spec = container_spec(
        str(apptainer.image("busybox")),
        {"process_type": "string-interpolated-cmd", "cmd": "true"},
        env={"IN_SHELL": "yes"},
    )
    write_spec(tmp_path, "step.yml", spec)
    work = tmp_path / "w"
    shell = subprocess.run(
        [str(BIN / "packtivity-util"), "shell", "-t", str(tmp_path), "step.yml", "-w", str(work)],
        input='echo "$IN_SHELL $PACKTIVITY_TEST_IMAGE $(pwd)"; exit 4\n',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 4, shell.stderr
    assert shell.stdout == f"yes busybox {work}\n"
    assert "apptainer exec" in shell.stderr


# ---- pulls from the registry on 127.0.0.1 -------------------------------------------------


def test_concurrent_steps_pull_an_image_once(registry, cli, tmp_path: Path) -> None:
    """Two packtivities need the same uncached image at once: both wait on the pull lock while
    the test holds it, then exactly one pulls and the other finds the SIF."""
    repository, tag = registry.registry_image.rsplit(":", 1)
    spec = container_spec(
        f"{registry.registry}/{repository}",
        {"process_type": "string-interpolated-cmd", "cmd": "echo $PACKTIVITY_TEST_IMAGE > o"},
        imagetag=tag,
    )
    write_spec(tmp_path, "step.yml", spec)
    cachedir = Path(os.environ["PACKTIVITY_APPTAINER_CACHEDIR"])
    sif = cachedir / cache_name(f"{registry.registry}/{registry.registry_image}")
    cachedir.mkdir(parents=True)
    manifest = f"GET /v2/{repository}/manifests/{tag} "
    pulls_before = registry.registry_requests(manifest)

    with open(f"{sif}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = [
            subprocess.Popen(
                [
                    str(BIN / "packtivity-run"),
                    "-t",
                    str(tmp_path),
                    "step.yml",
                    "-w",
                    str(tmp_path / f"w{i}"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            any(
                "waiting" in log.read_text()
                for log in (tmp_path / f"w{i}" / "_packtivity").glob(f"{STEP}-*.pull.log")
            )
            for i in range(2)
        ):
            time.sleep(0.1)
        assert not sif.exists()
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    stderr = "".join(err for _, err in outputs)
    assert stderr.count("waiting for another pull") == 2
    assert stderr.count("packtivity: pulling docker://") == 1
    assert stderr.count("is in the cache now") == 1
    assert registry.registry_requests(manifest) - pulls_before == 1
    assert sorted(p.name for p in cachedir.iterdir()) == [".sha256", sif.name, sif.name + ".lock"]
    digest = hashlib.sha256(sif.read_bytes()).hexdigest()
    for i in range(2):
        assert (tmp_path / f"w{i}" / "o").read_text() == "busybox-from-registry\n"
        assert record(tmp_path / f"w{i}")["image"]["source"] == "pulled"
        assert record(tmp_path / f"w{i}")["image"]["sha256"] == digest


def test_failed_pull_is_one_clear_line(registry, cli, tmp_path: Path) -> None:
    repository = registry.registry_image.rsplit(":", 1)[0]
    spec = container_spec(
        f"{registry.registry}/{repository}",
        {"process_type": "string-interpolated-cmd", "cmd": "true"},
        imagetag="no-such-tag",
    )
    result = run_step(cli, tmp_path, spec, "-w", str(tmp_path / "w"))
    assert result.returncode == 3
    assert_one_line_error_any(result, "could not pull docker://")
    assert "no-such-tag" in result.stderr
    leftovers = Path(os.environ["PACKTIVITY_APPTAINER_CACHEDIR"]).iterdir()
    assert [p.suffix for p in leftovers] == [".lock"]  # no SIF, no partial pull


def test_image_map_uri_is_pulled_once_into_the_cache(registry, cli, tmp_path: Path) -> None:
    uri = f"docker://{registry.registry}/{registry.registry_image}"
    image_map = tmp_path / "images.yml"
    image_map.write_text(f"atlas/analysisbase:21.2.4: {uri}\n")
    spec = container_spec(
        "atlas/analysisbase",
        {"process_type": "string-interpolated-cmd", "cmd": "echo $PACKTIVITY_TEST_IMAGE > o"},
        imagetag="21.2.4",
    )
    env = {"PACKTIVITY_APPTAINER_IMAGE_MAP": str(image_map)}
    for attempt in ("pulls", "reuses"):
        work = tmp_path / attempt
        result = run_step(cli, tmp_path, spec, "-w", str(work), env=env)
        assert result.returncode == 0, result.stderr
        assert (work / "o").read_text() == "busybox-from-registry\n"
    assert "pulling docker://" not in result.stderr  # the second run
    assert record(tmp_path / "reuses")["image"]["source"].endswith(f"cached pull of {uri}")
