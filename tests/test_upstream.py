"""A drop-in runs the suite of what it replaces: the original packtivity 0.17.1's own test suite
and yadage 0.21.2's, from their PyPI source distributions, run against this package.

Each suite runs in a copy of its sdist (without the original's own ``packtivity/`` source, so
that ``import packtivity`` is this package), with this environment's Python.  Docker images the
suites name are mapped to the test cluster's busybox image by a site image map, so their
``docker-encapsulated`` steps really run, under Apptainer.  The tests listed in
``upstream-left-out.yml`` are left out, each with its reason; every other test must pass.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml
from upstream import ORIGINAL_PACKTIVITY, YADAGE, sdist

LEFT_OUT = Path(__file__).parent / "upstream-left-out.yml"
SUITES = {
    "packtivity-0.17.1": ORIGINAL_PACKTIVITY,
    "yadage-0.21.2": YADAGE,
}
#: the images the suites' specs name (busybox steps: echo, cat, touch)
IMAGES = ("busybox",)


def left_out(suite: str) -> dict[str, str]:
    return yaml.safe_load(LEFT_OUT.read_text())[suite] or {}


def _junit_counts(report: Path) -> dict[str, int]:
    root = ElementTree.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    return counts


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_upstream_suite_passes_on_this_package(
    apptainer, suite: str, tmp_path: Path, monkeypatch
) -> None:
    name, version = SUITES[suite]
    source = sdist(name, version)
    copy = tmp_path / suite
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("packtivity", "src"))
    (copy / "pytest.ini").write_text("[pytest]\n")  # not the sdist's options (coverage plugins)

    image_map = tmp_path / "image-map.yml"
    image_map.write_text("".join(f"{i}: {apptainer.image('busybox')}\n" for i in IMAGES))
    monkeypatch.setenv("PACKTIVITY_APPTAINER_IMAGE_MAP", str(image_map))

    skipped = left_out(suite)
    args = []
    for test_id in skipped:
        path = test_id.split("::")[0]
        assert (copy / path).exists(), f"{suite}: left-out {test_id} does not exist"
        args += ["--ignore", path] if "::" not in test_id else ["--deselect", test_id]
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini",
         "--rootdir", ".", f"--junitxml={report}", "--timeout", "300", *args, "tests"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=1500,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"{suite}'s own suite on this package: {summary[0]}; left out: {len(skipped)}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    counts = _junit_counts(report)
    assert counts["tests"] > 0 and counts["failures"] == counts["errors"] == 0, counts
    assert counts["skipped"] == 0, f"{suite}: tests skipped that are not listed: {counts}"
