"""Batch backends: one packtivity = one job on Slurm, PBS, or detached on its host (-b local).

``scheduler``   what a scheduler adapter is: states, transient errors (no I/O)
``slurm``, ``pbs``, ``local``   one adapter each: build status/accounting/cancel commands, parse
                their output, and say how a job is named and shaped for PSI/J
``adapters``    the registry: backend name -> adapter
``poller``      one status command per cycle for every job a process watches, shared
``resources``   config file profiles + spec resources + CLI flags -> one request
``submission``  PSI/J executors (one per scheduler and host), submission with retries
``psij_host``   PSI/J's executors with their commands and files routed through a host
``detached``    ``-b local``'s submitter: the job body started in its own session
``backend``     the packtivity backend and its JSON proxy
"""

from .adapters import SCHEDULERS

__all__ = ["SCHEDULERS"]
