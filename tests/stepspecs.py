"""Small builders of packtivity specs for tests that write their own."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_spec(directory: Path, name: str, spec: dict) -> str:
    (directory / name).write_text(yaml.safe_dump(spec))
    return name


def container_spec(image: str, process: dict, publish: dict | None = None, **environment) -> dict:
    return {
        "process": process,
        "environment": {"environment_type": "docker-encapsulated", "image": image, **environment},
        "publisher": {"publisher_type": "interpolated-pub", "publish": publish or {}},
    }


def host_spec(cmd: str, publish: dict | None = None) -> dict:
    return {
        "process": {"process_type": "string-interpolated-cmd", "cmd": cmd},
        "environment": {"environment_type": "localproc-env"},
        "publisher": {"publisher_type": "interpolated-pub", "publish": publish or {}},
    }
