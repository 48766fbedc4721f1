"""Batch backends: one packtivity = one job on Slurm, PBS or PSI/J's local executor.

``scheduler``   what a scheduler adapter is: states, transient errors (no I/O)
``slurm``, ``pbs``, ``local``   one adapter each: build status/accounting/cancel commands, parse
                their output, and say how a job is named and shaped for PSI/J
``adapters``    the registry: backend name -> adapter
``poller``      one status command per cycle for every job a process watches, shared
``outcome``     how a job ended: the run record first, then the queue, then accounting
``resources``   config file profiles + spec resources + CLI flags -> one request
``submission``  PSI/J executors (one per scheduler and host), submission with retries
``backend``     the packtivity backend and its JSON proxy
"""

from .adapters import SCHEDULERS

__all__ = ["SCHEDULERS"]
