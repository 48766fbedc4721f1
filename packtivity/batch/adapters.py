"""The scheduler adapters by batch backend name: the one registry (``-b slurm``, ``-b pbs``,
``-b local``).  A new scheduler is an adapter module (see :class:`.scheduler.SchedulerAdapter`)
and one line here."""

from __future__ import annotations

from .local import LocalAdapter
from .pbs import PbsAdapter
from .scheduler import SchedulerAdapter
from .slurm import SlurmAdapter

ADAPTERS: dict[str, SchedulerAdapter] = {
    "slurm": SlurmAdapter(),
    "pbs": PbsAdapter(),
    "local": LocalAdapter(),
}
#: the batch backend names
SCHEDULERS = tuple(ADAPTERS)


def adapter(name: str) -> SchedulerAdapter:
    """The adapter of a batch backend name (one of :data:`SCHEDULERS`)."""
    return ADAPTERS[name]
