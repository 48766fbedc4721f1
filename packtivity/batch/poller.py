"""Job states for a whole process, one status command per cycle.

Every proxy of a process asks the same :class:`StatusPoller` (one per scheduler and host).  A
cycle runs one status command for all watched jobs -- only those jobs -- plus, for the jobs the
queue no longer lists, one accounting command.  Answers younger than the current interval are
served from memory, so yadage calling ``ready()`` on hundreds of proxies costs one ``squeue``.
The interval starts short and backs off while nothing changes.  A scheduler that does not answer
(controller restarting, socket timeout) is retried next cycle; it never fails a job.

The run records of the watched jobs are looked for far more often (every
:data:`RECORD_INTERVAL`), with one check for all of them (:meth:`Host.existing`: a stat each
here, one command over SSH): a record is the cheapest sign that a job has ended, so a job's end
is seen within seconds while the scheduler is asked at most once per :data:`MAX_INTERVAL` when
nothing changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from ..errors import BackendError
from ..hosts import Host, HostUnreachable
from ..hosts.base import CommandResult
from . import sources
from .scheduler import SchedulerAdapter, SchedulerState, TransientSchedulerError

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0
MAX_INTERVAL = 30.0
BACKOFF = 2.0  #: the run records tell most ends; the scheduler is for the rest (see above)
#: seconds between checks for the watched jobs' run records
RECORD_INTERVAL = 1.0
#: seconds a job that the scheduler says ended by itself may take to show its run record on
#: the shared storage before it is "ended without its run record": NFS caches a directory's
#: attributes up to 60 s by default (acdirmax), plus a poll interval or two.  Nextflow waits
#: 270 s (exitReadTimeout); this reports a job that died before its record 3x sooner.
RECORD_GRACE = 90.0


@dataclass(frozen=True)
class PollSettings:
    """How often a process asks; the config file's ``poll_interval_min``,
    ``poll_interval_max`` and ``record_interval`` (seconds) set them."""

    interval_min: float = MIN_INTERVAL  #: the scheduler, after a change
    interval_max: float = MAX_INTERVAL  #: the scheduler, at most this far apart while unchanged
    record_interval: float = RECORD_INTERVAL  #: the run records
    record_grace: float = RECORD_GRACE  #: a run record not visible yet (see RECORD_GRACE)


class StatusPoller:
    def __init__(
        self, adapter: SchedulerAdapter, host: Host, settings: Optional[PollSettings] = None
    ) -> None:
        self.adapter = adapter
        self.host = host
        self.settings = settings or PollSettings()
        self.interval = self.settings.interval_min
        self.commands_run = 0  #: status and accounting commands, for tests and benchmarks
        self.last_error = ""  #: the scheduler's last complaint, while it is not answering
        self._watched: set[str] = set()
        self._known: dict[str, SchedulerState] = {}
        self._final: dict[str, SchedulerState] = {}  # never asked about again
        self._final_seen_at: dict[str, float] = {}  # epoch seconds: when a final state came
        #: jobs known to exist: listed by the scheduler, or accepted by it a moment ago (see
        #: :meth:`vouch`)
        self._vouched: set[str] = set()
        #: epoch seconds: when a vouched job went missing from both the queue and accounting (a
        #: server answering "Unknown Job Id" while it shuts down or recovers, a site without job
        #: history); it is asked about again, and drops out of here when it shows again
        self._vanished_at: dict[str, float] = {}
        self._polled_at = float("-inf")
        self._lock = threading.RLock()
        self._records: dict[str, str] = {}  # job id -> its run record's path on the host
        self._recorded: set[str] = set()  # jobs whose run record has been seen
        self._records_checked_at = float("-inf")
        self.record_checks = 0  #: batched record checks, for tests and benchmarks

    def watch(self, ids: Iterable[str]) -> None:
        with self._lock:
            new = set(ids) - self._watched - set(self._final)
            if new:
                self._watched |= new
                self.interval = self.settings.interval_min
                self._polled_at = float("-inf")

    def watch_record(self, job_id: str, path: str) -> None:
        """Look for ``path``, the run record of ``job_id``, in the batched record checks."""
        with self._lock:
            self._records.setdefault(job_id, path)

    def vouch(self, job_id: str) -> None:
        """``job_id`` exists: the scheduler accepted it a moment ago (its submit command gave the
        id).  Should the scheduler then not know it, the job gets the grace period of a job
        whose run record is not visible yet (:meth:`record_wait`), not "unknown" at once."""
        with self._lock:
            self._vouched.add(job_id)

    def record_seen(self, job_id: str) -> bool:
        """Whether the run record of ``job_id`` (see :meth:`watch_record`) exists, from a
        batched check of every watched record at most :data:`RECORD_INTERVAL` old."""
        with self._lock:
            if job_id in self._recorded:
                return True
            if time.monotonic() - self._records_checked_at >= self.settings.record_interval:
                self._records_checked_at = time.monotonic()
                waiting = {path: i for i, path in self._records.items() if i not in self._recorded}
                self.record_checks += 1
                found = self.host.existing(sorted(waiting))
                self._recorded |= {waiting[path] for path in found}
            return job_id in self._recorded

    def ended_since(self, job_id: str) -> Optional[float]:
        """When ``job_id`` ended (epoch seconds): the scheduler's end time where it gives one,
        else when this process first heard it had ended, or first missed a job known to exist
        (:meth:`vouch`, or listed before) from the queue and accounting; None while neither."""
        with self._lock:
            state = self._final.get(job_id)
            if state is None:
                return self._vanished_at.get(job_id)
            return state.ended_at or self._final_seen_at.get(job_id)

    def record_wait(self, job_id: str) -> float:
        """Seconds left of the grace period for the run record of a job that ended or that
        vanished from the scheduler's view (0: none, or it is over; a job this process never saw
        listed nor was vouched for gets none: an old proxy of a purged job is unknown at once)."""
        if not self.adapter.shared_storage:
            return 0.0  # the job ran on this host: its record is there or it never was
        ended = self.ended_since(job_id)
        if ended is None:
            return 0.0
        return max(0.0, ended + self.settings.record_grace - time.time())

    def ended(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` known to have ended: a final state or a run record seen (from the
        answers at hand: nothing is asked)."""
        with self._lock:
            return {i for i in ids if i in self._final or i in self._recorded}

    def finished(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that the scheduler has said ended (nothing is asked)."""
        with self._lock:
            return {i for i in ids if i in self._final}

    def state(self, job_id: str, max_age: Optional[float] = None) -> Optional[SchedulerState]:
        """What the scheduler says of ``job_id`` (None: it does not know the job), polling when
        the last answer is older than ``max_age`` (default: the current interval)."""
        self.watch([job_id])
        with self._lock:
            age = time.monotonic() - self._polled_at
            if job_id not in self._final and age >= (self.interval if max_age is None else max_age):
                self.poll()
            return self._final.get(job_id) or self._known.get(job_id)

    def poll(self) -> None:
        """One cycle: one status command for every watched job, accounting for the missing."""
        with self._lock:
            ids = sorted(self._watched - set(self._final), key=_numeric_first)
            self._polled_at = time.monotonic()
            if not ids:
                return
            try:
                states = self._run_status(ids)
                missing = [job_id for job_id in ids if job_id not in states]
                if missing:
                    states.update(self._run_accounting(missing))
            except (TransientSchedulerError, HostUnreachable) as error:
                self.last_error = str(error)
                log.warning("the scheduler did not answer (%s); asking again later", error)
                self.interval = min(self.interval * BACKOFF, self.settings.interval_max)
                return
            self.last_error = ""
            changed = any(self._known.get(i) != states.get(i) for i in ids)
            for job_id in ids:
                if job_id in states:
                    self._vouched.add(job_id)
                    self._vanished_at.pop(job_id, None)
                elif job_id in self._vouched:
                    self._vanished_at.setdefault(job_id, time.time())
            self._known = {i: states[i] for i in ids if i in states}
            for job_id, state in self._known.items():
                if state.final:
                    self._final[job_id] = state
                    self._final_seen_at.setdefault(job_id, time.time())
            self.interval = (
                self.settings.interval_min
                if changed
                else min(self.interval * BACKOFF, self.settings.interval_max)
            )

    def _run(self, argv: list[str]) -> CommandResult:
        return run_scheduler_command(
            self.host, self.adapter.name, argv, self.adapter.command_environment
        )

    def _run_status(self, ids: list[str]) -> dict[str, SchedulerState]:
        result = self._run(self.adapter.status_command(ids))
        self.commands_run += 1
        return self.adapter.parse_status(ids, result.returncode, result.output, result.errors)

    def _run_accounting(self, ids: list[str]) -> dict[str, SchedulerState]:
        """The first accounting source of the cluster that answers; the one that answered is
        remembered (:mod:`.sources`), so that it alone is asked from then on."""
        commands = self.adapter.accounting_commands(ids)
        if not commands:
            return {}
        key = f"{self.adapter.name}@{self.host.name}"
        known = sources.remembered(key, len(commands))
        if known == sources.NONE:
            return {}
        order = [known] if known is not None else list(range(len(commands)))
        for index in order:
            result = self._run(commands[index])
            self.commands_run += 1
            states = self.adapter.parse_accounting(result.returncode, result.output, result.errors)
            if states is not None:
                if index != known:
                    sources.remember(key, index)
                return states
        # the remembered source has gone (reconfigured cluster): all of them, next time
        sources.remember(key, None if known is not None else sources.NONE)
        return {}


def run_scheduler_command(
    host: Host, scheduler: str, argv: list[str], environment: Optional[dict[str, str]] = None
) -> CommandResult:
    """``argv`` on ``host``; a scheduler command that is not there is :class:`BackendError`
    naming it (``-b slurm`` on a machine without Slurm), not an ``OSError``."""
    try:
        return host.run(argv, environment=environment)
    except FileNotFoundError:
        raise BackendError(
            f"'{argv[0]}' is not on the PATH of {host.name}: -b {scheduler} runs the "
            f"scheduler's commands there (is it a login node of a {scheduler} cluster?)"
        ) from None


def _numeric_first(job_id: str) -> tuple[int, str]:
    head = job_id.split(".")[0]
    return (int(head) if head.isdigit() else -1, job_id)


_pollers: dict[tuple[str, str], StatusPoller] = {}
_pollers_lock = threading.Lock()


def poller_for(
    adapter: SchedulerAdapter, host: Host, settings: Optional[PollSettings] = None
) -> StatusPoller:
    """The one poller of this process for ``adapter`` on ``host`` (``settings``, when given,
    apply from now on: the last backend made says how often)."""
    with _pollers_lock:
        key = (adapter.name, host.name)
        if key not in _pollers:
            _pollers[key] = StatusPoller(adapter, host, settings)
        elif settings is not None:
            _pollers[key].settings = settings
        return _pollers[key]
