"""The submit queue (packtivity/batch/throttle.py) against a scheduler held in memory: at most
``queue_size`` jobs of the process in the queue, the rest submitted in order as jobs end; a
refusal for a limit holds submissions until a job ends and never fails a step; the rate limit.

The scheduler is a FakeHost answering ``squeue`` from a table, and "submitting" adds a row to
it: the point is the queue's logic.  The real thing (a Slurm QOS limit refusing ``sbatch``) is
tests/test_limits.py."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest
from fakehost import FakeHost

from packtivity.batch.poller import PollSettings, StatusPoller
from packtivity.batch.slurm import SlurmAdapter
from packtivity.batch.submission import LimitRefused, SubmissionError, Submitted
from packtivity.batch.throttle import (
    SubmitLimits,
    SubmitQueue,
    Waiting,
    parse_queue_size,
    parse_rate,
)
from packtivity.errors import BackendError
from packtivity.hosts.base import CommandResult

FAST = PollSettings(interval_min=0.02, interval_max=0.1, record_interval=0.02)


class Queue:
    """A scheduler queue in memory: ``squeue`` answers from ``jobs``; ``submit`` adds one."""

    def __init__(self, refuse_above: int = 10**6) -> None:
        self.jobs: dict[str, str] = {}
        self.refuse_above = refuse_above
        self.lock = threading.Lock()
        self.submitted: list[str] = []

    def answer(self, argv: list[str]) -> CommandResult:
        ids = next(a for a in argv if a.startswith("--jobs=")).removeprefix("--jobs=").split(",")
        with self.lock:
            lines = [f"{i}|{self.jobs[i]}|None|" for i in ids if i in self.jobs]
        return CommandResult(0, "\n".join(lines), "")

    def active(self) -> list[str]:
        with self.lock:
            return [i for i, state in self.jobs.items() if state == "RUNNING"]

    def submitter(self, step: str) -> Callable[[], Submitted]:
        def submit() -> Submitted:
            with self.lock:
                if sum(s == "RUNNING" for s in self.jobs.values()) >= self.refuse_above:
                    raise LimitRefused("QOSMaxSubmitJobPerUserLimit")
                native_id = str(len(self.jobs) + 1)
                self.jobs[native_id] = "RUNNING"
                self.submitted.append(step)
            return Submitted(native_id, f"psij-{native_id}", "")

        return submit

    def end(self, count: int) -> None:
        """End the ``count`` oldest running jobs."""
        with self.lock:
            for native_id in [i for i, s in self.jobs.items() if s == "RUNNING"][:count]:
                self.jobs[native_id] = "COMPLETED"


def waiting(queue: Queue, poller: StatusPoller, step: str) -> Waiting:
    details: dict[str, Any] = {"step": step, "record": f"/w/{step}.json", "native_id": None}

    def submitted(job: Submitted) -> None:
        poller.watch([job.native_id])
        details["native_id"] = job.native_id

    return Waiting(details, queue.submitter(step), submitted)


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_at_most_queue_size_jobs_in_the_queue_the_rest_in_order_as_jobs_end() -> None:
    queue = Queue()
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=queue.answer), FAST)
    submit_queue = SubmitQueue(poller, SubmitLimits(queue_size=2))
    items = [waiting(queue, poller, f"s{n}") for n in range(5)]
    assert [submit_queue.submit(item) for item in items] == [True, True, False, False, False]
    assert "waiting for a queue slot (2 ahead of it" in submit_queue.waiting("/w/s4.json")
    time.sleep(0.2)
    assert len(queue.submitted) == 2  # nothing ended: nothing more submitted
    for _ in range(3):
        queue.end(1)
        until(lambda: len(queue.active()) == 2 or len(queue.submitted) == 5)
    until(lambda: len(queue.submitted) == 5)
    assert queue.submitted == ["s0", "s1", "s2", "s3", "s4"]
    assert submit_queue.most_in_queue == 2
    assert all(item.details["native_id"] for item in items)
    assert submit_queue.waiting("/w/s4.json") is None


def test_a_refusal_for_a_limit_holds_until_a_job_ends_and_fails_nothing() -> None:
    queue = Queue(refuse_above=3)
    # the limit is tried again after poll_interval_max: longer than this test's pauses
    settings = PollSettings(interval_min=0.02, interval_max=2.0, record_interval=0.02)
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=queue.answer), settings)
    submit_queue = SubmitQueue(poller, SubmitLimits(queue_size=100))
    items = [waiting(queue, poller, f"s{n}") for n in range(6)]
    assert [submit_queue.submit(item) for item in items] == [True] * 3 + [False] * 3
    assert submit_queue.refusals == 1
    assert "refused for a limit (QOSMaxSubmitJobPerUserLimit)" in (
        submit_queue.waiting("/w/s3.json") or ""
    )
    time.sleep(0.3)
    assert submit_queue.refusals == 1  # held: not asked again while none of ours ended
    while len(queue.submitted) < 6:
        queue.end(1)
        time.sleep(0.05)
    until(lambda: all(item.details["native_id"] for item in items))
    assert not any("submit_error" in item.details for item in items)
    assert queue.submitted == [f"s{n}" for n in range(6)]
    assert submit_queue.refusals == 1  # each slot the scheduler freed was taken: no retries


def test_the_rate_limit_spaces_submissions() -> None:
    queue = Queue()
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=queue.answer), FAST)
    submit_queue = SubmitQueue(poller, SubmitLimits(rate=(3, 0.5)))
    started = time.monotonic()
    items = [waiting(queue, poller, f"s{n}") for n in range(7)]
    assert [submit_queue.submit(item) for item in items] == [True] * 3 + [False] * 4
    until(lambda: len(queue.submitted) == 7)
    assert time.monotonic() - started >= 1.0  # 3 now, 3 after 0.5 s, 1 after 1 s


def test_a_refusal_of_a_waiting_submission_is_its_proxys_failure_not_a_loss() -> None:
    queue = Queue()
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=queue.answer), FAST)
    submit_queue = SubmitQueue(poller, SubmitLimits(queue_size=1))
    first, second = waiting(queue, poller, "a"), waiting(queue, poller, "b")

    def refused() -> Submitted:
        raise SubmissionError("slurm refused the job: invalid partition specified: nope")

    second.submit = refused
    assert submit_queue.submit(first) and not submit_queue.submit(second)
    queue.end(1)
    until(lambda: "submit_error" in second.details)
    assert "invalid partition" in second.details["submit_error"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10/1s", (10, 1.0)), ("10/s", (10, 1.0)), ("50/2min", (50, 120.0)), ("1 / 1h", (1, 3600.0))],
)
def test_rates_are_read_as_nextflow_writes_them(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate(text, "test") == expected


@pytest.mark.parametrize("text", ["10", "0/1s", "ten/1s", "10/0s", "10/1d", "", None, True])
def test_bad_rates_are_one_line_errors(text: Any) -> None:
    with pytest.raises(BackendError, match="submit_rate_limit in test must be like 10/1s"):
        parse_rate(text, "test")


@pytest.mark.parametrize("value", [0, -1, "x", 1.5, True, None, 10**7])
def test_bad_queue_sizes_are_one_line_errors(value: Any) -> None:
    with pytest.raises(BackendError, match="queue_size in test must be a whole number"):
        parse_queue_size(value, "test")
