"""Golden files: generated scripts compared with reviewed copies in ``tests/golden/``.

``PACKTIVITY_UPDATE_GOLDEN=1 pytest ...`` rewrites them from the current code; review the diff
before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PACKTIVITY_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with PACKTIVITY_UPDATE_GOLDEN=1, review"
    expected = path.read_text()
    assert text == expected, f"{name} differs from {path} (PACKTIVITY_UPDATE_GOLDEN=1 rewrites)"
