"""Retrying a step the cluster ended: how many times, after which ends, with how much more.

``retries`` (default 0: none), ``retry_on`` (default: the ends a scheduler imposes for want of a
resource or of luck -- ``timeout``, ``out_of_memory``, ``node_failure``, ``preempted``; add
``failed`` to retry a command's own non-zero exit too) and ``retry_grow`` (default 2: a step
that ran out of walltime gets twice its walltime, one out of memory twice its memory) come from
the config file, its profile, then the backend's options (``--retries``, yadage's ``-k``).  The
policy travels in the proxy, so every process that looks at the step applies the same one.

Like Nextflow's ``errorStrategy 'retry'`` with ``memory { 2.GB * task.attempt }`` and
Snakemake's ``--retries``; each attempt is a new run of the step with a run record of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any, Optional

from ..errors import BackendError
from . import scheduler as s
from .resources import Resources

#: the ends retried unless ``retry_on`` says otherwise
DEFAULT_ON = (s.TIMEOUT, s.OUT_OF_MEMORY, s.NODE_FAILURE, s.PREEMPTED)
#: what ``retry_on`` may name: the imposed ends but a cancel, and a command's own failure
RETRYABLE = (*DEFAULT_ON, s.SCHEDULER_FAILURE, "failed")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 0
    on: tuple[str, ...] = DEFAULT_ON
    grow: float = 2.0

    def allows(self, attempt: int, ended: str) -> bool:
        """Whether attempt number ``attempt`` (1 is the first) that ended ``ended`` is tried
        again."""
        return attempt <= self.retries and ended in self.on

    def json(self) -> dict[str, Any]:
        return {"retries": self.retries, "on": list(self.on), "grow": self.grow}

    @classmethod
    def from_json(cls, data: Any) -> RetryPolicy:
        """The policy a proxy carries (none: no retries, as proxies of before had)."""
        if not isinstance(data, dict):
            return cls()
        return parse(cls(), data, "the proxy")


def parse(policy: RetryPolicy, values: dict[str, Any], source: str) -> RetryPolicy:
    """``policy`` with the ``retries``/``retry_on``/``retry_grow`` (or, from a proxy, ``retries``
    /``on``/``grow``) of ``values``; :class:`BackendError` naming ``source`` for a bad one."""
    retries = values.get("retries")
    if retries is not None:
        if isinstance(retries, str) and retries.strip().isdigit():
            retries = int(retries)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise BackendError(f"retries in {source} must be a whole number from 0 to 10")
        policy = replace(policy, retries=retries)
    on = values.get("retry_on", values.get("on"))
    if on is not None:
        names = on.split(",") if isinstance(on, str) else on
        if not isinstance(names, list) or not names:
            raise BackendError(f"retry_on in {source} must list ends, e.g. timeout,out_of_memory")
        cleaned = tuple(str(n).strip() for n in names)
        unknown = [n for n in cleaned if n not in RETRYABLE]
        if unknown:
            raise BackendError(
                f"retry_on in {source}: unknown end(s) {', '.join(unknown)}; "
                f"known: {', '.join(RETRYABLE)}"
            )
        policy = replace(policy, on=cleaned)
    grow = values.get("retry_grow", values.get("grow"))
    if grow is not None:
        try:
            factor = float(grow)
        except (TypeError, ValueError):
            factor = 0.0
        if isinstance(grow, bool) or not 1.0 <= factor <= 10.0:
            raise BackendError(f"retry_grow in {source} must be a factor from 1 to 10")
        policy = replace(policy, grow=factor)
    return policy


def grown(resources: Resources, ended: str, factor: float) -> tuple[Resources, str]:
    """The resources of the next attempt of a step that ended ``ended``, and what changed in
    words ("" when nothing could: no walltime or memory was asked for, so none is known to
    grow)."""
    if ended == s.TIMEOUT:
        duration = resources.duration()
        if duration is None:
            return resources, ""
        longer = timedelta(seconds=int(duration.total_seconds() * factor + 0.5))
        walltime = _hms(longer)
        return replace(resources, walltime=walltime), f"walltime {_hms(duration)} -> {walltime}"
    if ended == s.OUT_OF_MEMORY:
        size = resources.memory_bytes()
        if size is None:
            return resources, ""
        memory = f"{int(size * factor / 2**20 + 0.5)}M"
        return replace(resources, memory=memory), f"memory {resources.memory} -> {memory}"
    return resources, ""


def _hms(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def request_json(resources: Resources) -> dict[str, Any]:
    """The resources of an attempt, kept in its proxy (the next attempt grows them)."""
    return asdict(resources)


def request_from_json(data: Any) -> Optional[Resources]:
    if not isinstance(data, dict):
        return None
    try:
        return Resources(**data)
    except TypeError:
        return None
