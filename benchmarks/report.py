"""A benchmark's result rows: what was compared, medians, ratio, target, met; as a table and
as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Row:
    what: str  #: what packtivity did
    ours: float  #: median seconds (or another unit, see ``unit``)
    reference: str  #: what it is compared with
    theirs: Optional[float]  #: the reference's median in the same run (None: no reference)
    target: str  #: the target, in words ("-": the issue sets none)
    met: Optional[bool]  #: None when there is no target
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> Optional[float]:
        return self.ours / self.theirs if self.theirs else None


def _value(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f} s"
    return f"{value:.1f} {unit}"


def _met(met: Optional[bool]) -> str:
    return "-" if met is None else "yes" if met else "**no**"


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows (the README quotes it)."""
    lines = [
        "| what | packtivity | reference | reference's | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        what = f"{row.what} ({row.note})" if row.note else row.what
        lines.append(
            f"| {what} | {_value(row.ours, row.unit)} | {row.reference} | "
            f"{_value(row.theirs, row.unit)} | {ratio} | {row.target} | "
            f"{_met(row.met)} |"
        )
    return "\n".join(lines)


def write_json(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [{**asdict(row), "ratio": row.ratio} for row in rows]
    path.write_text(json.dumps(data, indent=2) + "\n")
