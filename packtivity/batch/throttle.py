"""How many jobs one process keeps in a scheduler's queue, and how fast it submits them.

Every batch backend of a process submits through the one :class:`SubmitQueue` of its scheduler
and host.  A submission goes to the scheduler at once when fewer than ``queue_size`` jobs of
this process are in the queue and ``submit_rate_limit`` allows; otherwise it waits here, in
order, and a thread of this process submits it as soon as both allow (the poller tells when a
job has ended: run records first, the scheduler for the rest).  A proxy of a waiting
submission says so; if the process ends first, a later check says the step was never
submitted.

A scheduler that refuses a job for a per-user or per-account limit (Slurm's ``QOSMax*`` and
``AssocMax*`` reasons, PBS's "would exceed ... limit") does not fail the step: the submission
is held until one of this process's jobs ends -- or, when none is in the queue, for
``poll_interval_max`` -- and is then tried again.

Submissions are serial: one submit program at a time per scheduler and host.
"""

from __future__ import annotations

import atexit
import logging
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import BackendError
from ..hosts import HostUnreachable, local_host
from ..utils import one_line
from .poller import StatusPoller
from .submission import LimitRefused, SubmissionError, Submitted

log = logging.getLogger(__name__)

#: jobs of one process in the queue at once, by default.  Nextflow's grid executors use 100;
#: so does this: far below the per-user limits of production sites (typically 500 to 10,000
#: submitted jobs), enough to keep a partition busy with one workflow, and bounded load on
#: the controller (one queued job costs it a record and a place in every scheduling pass).
QUEUE_SIZE = 100
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*(s|sec|m|min|h|hour)?\s*$")
_UNIT = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


@dataclass(frozen=True)
class SubmitLimits:
    """``queue_size`` and ``submit_rate_limit`` (config file, profile, backend options)."""

    queue_size: int = QUEUE_SIZE
    #: at most ``rate[0]`` submissions in any ``rate[1]`` seconds; None: no limit
    rate: Optional[tuple[int, float]] = None

    def describe(self) -> str:
        rate = f"{self.rate[0]}/{self.rate[1]:g}s" if self.rate else "unlimited"
        return f"queue_size {self.queue_size}, submit_rate_limit {rate}"


def parse_rate(text: Any, source: str) -> tuple[int, float]:
    """``10/1s``, ``10/s``, ``50/2min``, ``100/1h`` (Nextflow's form): (count, seconds)."""
    match = _RATE.match(str(text)) if isinstance(text, (str, int)) else None
    count = int(match.group(1)) if match else 0
    seconds = float(match.group(2) or 1) * _UNIT[match.group(3)] if match else 0.0
    if not match or count < 1 or not 0 < seconds <= 86400:
        raise BackendError(
            f"submit_rate_limit in {source} must be like 10/1s, 50/2min or 100/1h, got {text!r:.40}"
        )
    return count, seconds


def parse_queue_size(value: Any, source: str) -> int:
    """A whole number of jobs, from 1 to 1,000,000 (``100``, or ``"100"`` from a flag)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise BackendError(
            f"queue_size in {source} must be a whole number from 1 to 1000000, got {value!r:.40}"
        )
    return value


# ---- who submits: a waiting proxy names its process, so that another can tell it ended ----


def this_process() -> dict[str, Any]:
    """This process, as a waiting proxy names it: host name, PID and start time."""
    global _this
    if _this is None:
        import os

        _this = {"host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())}
    return dict(_this)


_this: Optional[dict[str, Any]] = None


def _started(pid: int) -> str:
    """When process ``pid`` of this machine started ("" when none runs); an answer serves for
    a second (900 proxies of one submitter: one ``ps``, not 900)."""
    asked_at, answer = _started_answers.get(pid, (float("-inf"), ""))
    if time.monotonic() - asked_at < 1.0:
        return answer
    try:
        done = local_host().run(["ps", "-o", "lstart=", "-p", str(pid)], environment=C_LOCALE)
    except OSError:
        return ""
    answer = " ".join(done.output.split())
    _started_answers[pid] = (time.monotonic(), answer)
    return answer


_started_answers: dict[int, tuple[float, str]] = {}


C_LOCALE = {"LC_ALL": "C"}


def process_alive(submitter: dict[str, Any]) -> Optional[bool]:
    """Whether the process ``submitter`` (see :func:`this_process`) still runs; None when
    that cannot be told from here (another machine)."""
    if submitter.get("host") != socket.gethostname():
        return None
    pid = submitter.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    started = _started(pid)
    return bool(started) and started == submitter.get("started")


# ---- the queue ----------------------------------------------------------------------------


@dataclass
class Waiting:
    """A submission that waits: ``details`` are its proxy's, filled in when it is submitted."""

    details: dict[str, Any]
    submit: Callable[[], Submitted]  #: submits it (raises SubmissionError, LimitRefused)
    submitted: Callable[[Submitted], None]  #: records a submission in ``details``


class SubmitQueue:
    def __init__(self, poller: StatusPoller, limits: SubmitLimits) -> None:
        self.poller = poller
        self.limits = limits
        self.refusals = 0  #: submissions the scheduler refused for a limit, for tests
        self.most_in_queue = 0  #: the most jobs of this process in the queue, for tests
        self._lock = threading.Lock()
        self._waiting: deque[Waiting] = deque()
        self._in_queue: set[str] = set()  # native ids of this process's jobs not known ended
        # ... not known ended by the scheduler (it counts a job for its limits until then,
        # a moment after the run record shows)
        self._counted: set[str] = set()
        self._times: deque[float] = deque()  # monotonic times of recent submissions
        self._held: Optional[tuple[int, float, str]] = None  # (below, since, why)
        self._thread: Optional[threading.Thread] = None
        self._items: dict[str, dict[str, Any]] = {}  # run record -> proxy details

    # ---- what backends call ----------------------------------------------------------------

    def submit(self, item: Waiting) -> bool:
        """Submit ``item`` now when the limits allow (True; the scheduler's refusals other
        than for a limit raise :class:`SubmissionError`), else let it wait its turn (False)."""
        with self._lock:
            self._items[item.details.get("record", "")] = item.details
            if not self._waiting and self._slot_free():
                try:
                    self._submit(item)
                    return True
                except LimitRefused as refusal:
                    self._hold(str(refusal))
            self._waiting.append(item)
            self._start_thread()
            return False

    def waiting(self, record: str) -> Optional[str]:
        """Why the submission of the run record ``record`` (a proxy's ``record``: one path per
        submission) still waits here; None when it does not."""
        with self._lock:
            for position, item in enumerate(self._waiting):
                if item.details.get("record") == record:
                    return self._why(position)
        return None

    def details_of(self, record: str) -> Optional[dict[str, Any]]:
        """The proxy details of the submission of ``record`` that went through this queue."""
        with self._lock:
            return self._items.get(record)

    def withdraw(self, record: str) -> bool:
        """Take the waiting submission of ``record`` out of the line (never submitted)."""
        with self._lock:
            for item in list(self._waiting):
                if item.details.get("record") == record:
                    self._waiting.remove(item)
                    return True
        return False

    # ---- the limits ------------------------------------------------------------------------

    def _why(self, position: int) -> str:
        ahead = f"{position} ahead of it, " if position else ""
        if self._held is not None:
            when = (
                f"when one of this process's {len(self._in_queue)} jobs in the queue ends"
                if self._held[0]
                else f"in {self.poller.settings.interval_max:g} s"
            )
            return f"waiting for a queue slot: {self._held[2]}; {ahead}tried again {when}"
        return (
            f"waiting for a queue slot ({ahead}{len(self._in_queue)} jobs of this process in "
            f"the queue; {self.limits.describe()})"
        )

    def _slot_free(self) -> bool:
        self._in_queue -= self.poller.ended(self._in_queue)
        self._counted -= self.poller.finished(self._counted)
        now = time.monotonic()
        if self._held is not None:
            # a limit refused a job when the scheduler counted ``below`` of ours: for the next
            # poll_interval_max, no more than that (each slot the scheduler frees is taken at
            # once, and the limit is not tried again); then the limit is tried again, in case
            # it was shared with jobs that have ended since
            below, since, _ = self._held
            if now - since >= self.poller.settings.interval_max:
                self._held = None
            elif below == 0 or len(self._counted) >= below:
                return False
        if len(self._in_queue) >= self.limits.queue_size:
            return False
        if self.limits.rate is not None:
            count, seconds = self.limits.rate
            while self._times and now - self._times[0] >= seconds:
                self._times.popleft()
            if len(self._times) >= count:
                return False
        return True

    def _hold(self, why: str) -> None:
        self.refusals += 1
        self._held = (len(self._counted), time.monotonic(), f"refused for a limit ({why})")
        log.warning(
            "the scheduler refused a job for a limit (%s): at most the %d jobs of this process "
            "it counts now, for %g s; the others wait their turn",
            why,
            len(self._counted),
            self.poller.settings.interval_max,
        )

    def _submit(self, item: Waiting) -> None:
        submitted = item.submit()
        self._times.append(time.monotonic())
        self._in_queue.add(submitted.native_id)
        self._counted.add(submitted.native_id)
        self.most_in_queue = max(self.most_in_queue, len(self._in_queue))
        item.submitted(submitted)

    # ---- the thread that submits what waits ------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"packtivity-submit-{self.poller.adapter.name}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._thread = None
                    return
                if self._slot_free():
                    self._submit_head()
                    continue
                held = self._held is not None
                probe = next(iter(self._counted if held else self._in_queue), None)
            if probe is not None:  # learn of ends: one batched record check, the scheduler
                try:  # when its interval is up (both for every watched job)
                    if held:  # only the scheduler's count frees a slot now
                        self.poller.state(probe, self.poller.settings.interval_min)
                    elif not self.poller.record_seen(probe):
                        self.poller.state(probe)
                except HostUnreachable as error:
                    log.warning("%s; asking again later", error)
            time.sleep(self.poller.settings.record_interval)

    def _submit_head(self) -> None:
        item = self._waiting.popleft()
        try:
            self._submit(item)
        except LimitRefused as refusal:
            self._waiting.appendleft(item)
            self._hold(str(refusal))
        except HostUnreachable as error:
            self._waiting.appendleft(item)
            self._held = (0, time.monotonic(), f"the cluster did not answer ({one_line(error)})")
        except SubmissionError as error:
            item.details["submit_error"] = str(error)
        except Exception as error:  # never a silent loss: the proxy says what happened
            log.exception("submitting %s failed", item.details.get("step"))
            item.details["submit_error"] = f"the submission failed: {one_line(error)}"


_queues: dict[tuple[str, str], SubmitQueue] = {}
_queues_lock = threading.Lock()


def queue_for(poller: StatusPoller, limits: Optional[SubmitLimits] = None) -> SubmitQueue:
    """The one submit queue of this process for the poller's scheduler and host (``limits``,
    when given, apply from now on)."""
    with _queues_lock:
        key = (poller.adapter.name, poller.host.name)
        if key not in _queues:
            _queues[key] = SubmitQueue(poller, limits or SubmitLimits())
        elif limits is not None:
            _queues[key].limits = limits
        return _queues[key]


@atexit.register
def _say_what_was_never_submitted() -> None:
    for queue in _queues.values():
        count = len(queue._waiting)
        if count:
            log.warning(
                "%d step(s) were still waiting for a queue slot and were never submitted "
                "(their proxies say so)",
                count,
            )
