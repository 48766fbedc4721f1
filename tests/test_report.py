"""``packtivity-util report`` rendered by a real browser (issue 22): headless Chromium from the
Debian archive loads the report of a run on the test cluster's Slurm (a yadage map/reduce, a
failed step, a step still queued) with the network off; the rendered DOM has every step, the
timeline drawn and the failure with its log's tail.  Its screenshot is kept as a CI artefact
(``.ci/artifacts/report.png``, or ``$PACKTIVITY_TEST_ARTIFACTS``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, assert_one_line_error
from stepspecs import host_spec, write_spec

WORKFLOWS = Path(__file__).parent / "workflows"
UTIL = str(BIN / "packtivity-util")
ARTIFACTS = Path(os.environ.get("PACKTIVITY_TEST_ARTIFACTS")
                 or Path(__file__).parents[1] / ".ci" / "artifacts")  # fmt: skip


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.fail("chromium is not installed: tests/cluster/cluster up installs it")
    return found


def browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with the network off (every request goes to a closed port)."""
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_report_of_a_run_in_a_real_browser(slurm, chromium, tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "yadage-run"), "-t", str(WORKFLOWS), str(run / "wf"),
         "mapreduce.yml", "-b", "slurm", "-p", "items=[1, 2, 3]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    write_spec(tmp_path, "fails.yml", host_spec("echo 'no calibration.db here' >&2; exit 3"))
    write_spec(tmp_path, "later.yml", host_spec("true"))
    for name, extra in (("fails", []), ("later", ["--scheduler-option", "begin=now+1hour"])):
        r = subprocess.run(
            [str(BIN / "packtivity-run"), "-t", str(tmp_path), f"{name}.yml", "-b", "slurm",
             "-w", str(run / name), *(["--async"] if extra else []), *extra],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == (0 if extra else 1), r.stderr
    held = json.loads((tmp_path / "proxy.json").read_text())["proxydetails"]["native_id"]
    try:
        report = tmp_path / "report.html"
        r = subprocess.run([UTIL, "report", str(run), "-o", str(report), "--title", "a run"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        page = report.read_text()
        assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing from the network
        assert "<script" not in page  # readable without JavaScript
        dom = browser(chromium, tmp_path / "profile", "--dump-dom", report.as_uri()).stdout
        steps = re.findall(r'<tr id="step-([^"]+)"', dom)
        assert len(steps) == 6, steps  # 3 map + reduce + the failure + the queued one
        states = dict(re.findall(r'<tr id="step-([^"]+)"><td>[^<]*</td><td class="state s-(\w+)"',
                                 dom))  # fmt: skip
        assert sorted(states.values()) == ["failed", "pending"] + ["succeeded"] * 4
        # what Slurm's accounting says each finished job asked for and used (sacct)
        finished = re.findall(r'<tr id="step-(?:map|reduce)[^"]*">(.*?)</tr>', dom)
        assert len(finished) == 4
        # slurmdbd completes a job's record a moment after it ends (the job that ended last
        # may still lack it), and samples sub-second jobs' memory as 0: most, not all
        asked = [r for r in finished if re.search(r"<td>00:10:00</td><td>256M</td>", r)]
        used = [r for r in finished if re.search(r"<td>256M</td><td>\d+(\.\d+)?[KMG]?</td>", r)]
        assert len(asked) >= 3 and len(used) >= 3, finished
        timeline = dom[dom.index('<svg id="timeline"') : dom.index("</svg>")]
        assert timeline.count("<rect") >= 6
        failures = dom[dom.index('id="failures"') :]
        assert "exit code 3" in failures and "no calibration.db here" in failures
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "report.png"
        browser(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1300,900",
                report.as_uri())  # fmt: skip
        assert shot.stat().st_size > 10_000
        (tmp_path / "mine.html").write_text("my own notes\n")
        refused = subprocess.run([UTIL, "report", str(run), "-o", str(tmp_path / "mine.html")],
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert_one_line_error(refused, "exists and is not a packtivity report")
        assert (tmp_path / "mine.html").read_text() == "my own notes\n"
    finally:
        subprocess.run(["scancel", held], capture_output=True, timeout=30)
