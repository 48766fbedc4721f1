"""The status poller (packtivity/batch/poller.py) against a scheduler held in memory: one
command per cycle for every watched job, answers served from memory within the interval,
back-off while nothing changes, a silent scheduler never failing a job, final states never
asked again.  The scheduler is a FakeHost answering squeue/sacct text as Slurm prints it."""

from __future__ import annotations

import pytest
from fakehost import FakeHost

from packtivity.batch import poller as poller_module
from packtivity.batch.poller import BACKOFF, MAX_INTERVAL, MIN_INTERVAL, StatusPoller
from packtivity.batch.scheduler import CANCELLED, ENDED, PENDING, RUNNING
from packtivity.batch.slurm import SlurmAdapter
from packtivity.hosts.base import CommandResult


class FakeSlurm:
    """squeue and sacct answers from two tables that a test edits between cycles."""

    def __init__(self) -> None:
        self.queue: dict[str, str] = {}  # job id -> squeue state
        self.accounting: dict[str, str] = {}  # job id -> sacct state
        self.down = False

    def __call__(self, argv: list[str]) -> CommandResult:
        if self.down:
            return CommandResult(1, "", "squeue: error: Socket timed out on send/recv operation")
        if argv[0] == "squeue":
            ids = argv[3].removeprefix("--jobs=").split(",")
            lines = [f"{i}|{self.queue[i]}|None" for i in ids if i in self.queue]
            return CommandResult(0, "\n".join(lines), "")
        ids = argv[2].split("--jobs=")[1].split(" ")[0].rstrip("'").split(",")
        lines = [f"{i}|{self.accounting[i]}" for i in ids if i in self.accounting]
        return CommandResult(0, "\n".join(lines), "")


@pytest.fixture
def slurm() -> FakeSlurm:
    return FakeSlurm()


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The poller's monotonic clock, advanced by the test."""
    now = [1000.0]
    monkeypatch.setattr(poller_module.time, "monotonic", lambda: now[0])
    return now


def test_one_status_command_for_all_watched_jobs(slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=slurm)
    slurm.queue = {"11": "RUNNING", "12": "PENDING", "13": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    poller.watch(["11", "12", "13"])
    assert poller.state("11").state == RUNNING
    assert poller.state("12").state == PENDING and poller.state("13").state == RUNNING
    assert len(host.commands) == 1 and "--jobs=11,12,13" in host.commands[0]


def test_answers_are_served_from_memory_within_the_interval(slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=slurm)
    slurm.queue = {"7": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    for _ in range(100):
        poller.state("7")
    assert poller.commands_run == 1
    clock[0] += poller.interval
    poller.state("7")
    assert poller.commands_run == 2


def test_interval_backs_off_while_nothing_changes_and_resets_on_change(
    slurm: FakeSlurm, clock
) -> None:
    host = FakeHost(answer=slurm)
    slurm.queue = {"7": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    poller.state("7")
    assert poller.interval == MIN_INTERVAL  # the first answer is a change
    intervals = []
    for _ in range(12):
        clock[0] += poller.interval
        poller.state("7")
        intervals.append(poller.interval)
    assert intervals[:3] == [MIN_INTERVAL * BACKOFF, MIN_INTERVAL * BACKOFF**2,
                             MIN_INTERVAL * BACKOFF**3]  # fmt: skip
    assert intervals[-1] == MAX_INTERVAL
    slurm.queue["7"] = "COMPLETING"  # a change: RUNNING still, but another native word
    clock[0] += poller.interval
    poller.state("7")
    assert poller.interval == MIN_INTERVAL


def test_a_silent_scheduler_backs_off_and_fails_nothing(slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=slurm)
    slurm.queue = {"7": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    assert poller.state("7").state == RUNNING
    slurm.down = True
    clock[0] += poller.interval
    assert poller.state("7").state == RUNNING  # the last answer, not a failure
    assert "Socket timed out" in poller.last_error and poller.interval > MIN_INTERVAL
    host.reachable = False  # the connection, not only the scheduler
    clock[0] += poller.interval
    assert poller.state("7").state == RUNNING
    host.reachable, slurm.down = True, False
    slurm.queue = {}
    slurm.accounting = {"7": "COMPLETED"}
    clock[0] += poller.interval
    assert poller.state("7").state == ENDED and poller.last_error == ""


def test_jobs_that_left_the_queue_are_asked_of_accounting_once(slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=slurm)
    slurm.accounting = {"8": "CANCELLED by 1000"}
    poller = StatusPoller(SlurmAdapter(), host)
    state = poller.state("8")
    assert (state.state, state.native) == (CANCELLED, "CANCELLED")
    assert [c[0] for c in host.commands] == ["squeue", "sh"]  # squeue, then sacct
    for _ in range(5):
        clock[0] += MAX_INTERVAL
        assert poller.state("8").state == CANCELLED
    assert len(host.commands) == 2  # a final state is never asked again


def test_a_job_nobody_knows_is_none(slurm: FakeSlurm, clock) -> None:
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=slurm))
    assert poller.state("404") is None
