"""The run record's documented format (docs/run-record.schema.json) is what job bodies write:
records of real runs on this machine -- a success, a failure, a container step -- validate
against it, and the reader (packtivity.runrecord) reads every field the schema requires."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from stepspecs import container_spec, host_spec, write_spec

from packtivity.runrecord import RECORD_FORMAT, RunRecord, parse_run_record

SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "run-record.schema.json").read_text())


def test_the_schema_names_the_format_and_every_field_the_reader_reads() -> None:
    assert SCHEMA["properties"]["format"]["const"] == RECORD_FORMAT
    assert set(SCHEMA["required"]) == set(RunRecord.__dataclass_fields__) | {"format"}


@pytest.mark.parametrize(
    ("command", "exit_code"), [("echo hi > out.txt", 0), ("echo oops >&2; exit 3", 3)]
)
def test_records_of_real_runs_match_the_schema(cli, tmp_path: Path, command, exit_code) -> None:
    write_spec(tmp_path, "step.yml", host_spec(command))
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-w", str(tmp_path / "w"),
            cwd=tmp_path)  # fmt: skip
    assert r.returncode == (0 if exit_code == 0 else 1), r.stderr
    (path,) = (tmp_path / "w" / "_packtivity").glob("*.run.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    assert parse_run_record(path.read_text(), str(path)).exit_code == exit_code


def test_a_container_steps_record_matches_the_schema(apptainer, cli, tmp_path: Path) -> None:
    command = {"process_type": "string-interpolated-cmd", "cmd": "true"}
    spec = container_spec(str(apptainer.image("busybox")), command)  # a local SIF
    write_spec(tmp_path, "step.yml", spec)
    r = cli("packtivity-run", "-t", str(tmp_path), "step.yml", "-w", str(tmp_path / "w"),
            cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    (path,) = (tmp_path / "w" / "_packtivity").glob("*.run.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["image"]["sha256"] and data["runtime"]
