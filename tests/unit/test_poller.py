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
    """squeue and sacct answers from two tables that a test edits between cycles; with
    ``database`` False, plain ``sacct`` answers as on a cluster without slurmdbd and only
    ``sacct --completion`` (the job completion log) knows finished jobs."""

    def __init__(self) -> None:
        self.queue: dict[str, str] = {}  # job id -> squeue state
        self.accounting: dict[str, str] = {}  # job id -> sacct state
        self.down = False
        self.database = True

    def __call__(self, argv: list[str]) -> CommandResult:
        if self.down:
            return CommandResult(1, "", "squeue: error: Socket timed out on send/recv operation")
        ids = next(a for a in argv if a.startswith("--jobs=")).removeprefix("--jobs=").split(",")
        if argv[0] == "squeue":
            lines = [f"{i}|{self.queue[i]}|None|1796215907" for i in ids if i in self.queue]
            return CommandResult(0, "\n".join(lines), "")
        if not self.database and "--completion" not in argv:
            return CommandResult(1, "", "sacct: error: Slurm accounting storage is disabled")
        lines = [f"{i}|{self.accounting[i]}|1796215907" for i in ids if i in self.accounting]
        return CommandResult(0, "\n".join(lines), "")


@pytest.fixture
def fake_slurm() -> FakeSlurm:
    return FakeSlurm()


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The poller's monotonic clock, advanced by the test."""
    now = [1000.0]
    monkeypatch.setattr(poller_module.time, "monotonic", lambda: now[0])
    return now


def test_one_status_command_for_all_watched_jobs(fake_slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=fake_slurm)
    fake_slurm.queue = {"11": "RUNNING", "12": "PENDING", "13": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    poller.watch(["11", "12", "13"])
    assert poller.state("11").state == RUNNING
    assert poller.state("12").state == PENDING and poller.state("13").state == RUNNING
    assert len(host.commands) == 1 and "--jobs=11,12,13" in host.commands[0]


def test_answers_are_served_from_memory_within_the_interval(fake_slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=fake_slurm)
    fake_slurm.queue = {"7": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    for _ in range(100):
        poller.state("7")
    assert poller.commands_run == 1
    clock[0] += poller.interval
    poller.state("7")
    assert poller.commands_run == 2


def test_interval_backs_off_while_nothing_changes_and_resets_on_change(
    fake_slurm: FakeSlurm, clock
) -> None:
    host = FakeHost(answer=fake_slurm)
    fake_slurm.queue = {"7": "RUNNING"}
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
    fake_slurm.queue["7"] = "COMPLETING"  # a change: RUNNING still, but another native word
    clock[0] += poller.interval
    poller.state("7")
    assert poller.interval == MIN_INTERVAL


def test_a_silent_scheduler_backs_off_and_fails_nothing(fake_slurm: FakeSlurm, clock) -> None:
    host = FakeHost(answer=fake_slurm)
    fake_slurm.queue = {"7": "RUNNING"}
    poller = StatusPoller(SlurmAdapter(), host)
    assert poller.state("7").state == RUNNING
    fake_slurm.down = True
    clock[0] += poller.interval
    assert poller.state("7").state == RUNNING  # the last answer, not a failure
    assert "Socket timed out" in poller.last_error and poller.interval > MIN_INTERVAL
    host.reachable = False  # the connection, not only the scheduler
    clock[0] += poller.interval
    assert poller.state("7").state == RUNNING
    host.reachable, fake_slurm.down = True, False
    fake_slurm.queue = {}
    fake_slurm.accounting = {"7": "COMPLETED"}
    clock[0] += poller.interval
    assert poller.state("7").state == ENDED and poller.last_error == ""


def test_jobs_that_left_the_queue_are_asked_of_accounting_once(
    fake_slurm: FakeSlurm, clock
) -> None:
    host = FakeHost(answer=fake_slurm)
    fake_slurm.accounting = {"8": "CANCELLED by 1000"}
    poller = StatusPoller(SlurmAdapter(), host)
    state = poller.state("8")
    assert (state.state, state.native) == (CANCELLED, "CANCELLED")
    assert [c[0] for c in host.commands] == ["squeue", "sacct"]
    for _ in range(5):
        clock[0] += MAX_INTERVAL
        assert poller.state("8").state == CANCELLED
    assert len(host.commands) == 2  # a final state is never asked again


def test_a_job_nobody_knows_is_none(fake_slurm: FakeSlurm, clock) -> None:
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=fake_slurm))
    assert poller.state("404") is None


def test_a_job_that_vanishes_after_being_listed_gets_the_record_grace(
    fake_slurm: FakeSlurm, clock, monkeypatch
) -> None:
    """A server recovering after a restart answers before it has its jobs back (OpenPBS did,
    and requeued the job): a job this process saw in the queue that then neither the queue nor
    accounting knows is not final; it gets the run record's grace period, and is asked about
    again until it shows.  So does a job vouched for (accepted a moment ago) that the scheduler
    does not know at its first answer.  A job never seen gets no grace (an old proxy of a
    purged job)."""
    wall = [5000.0]
    monkeypatch.setattr(poller_module.time, "time", lambda: wall[0])
    poller = StatusPoller(SlurmAdapter(), FakeHost(answer=fake_slurm))
    fake_slurm.queue = {"7": "RUNNING"}
    assert poller.state("7").state == RUNNING and poller.record_wait("7") == 0.0
    fake_slurm.queue = {}
    clock[0] += poller.interval
    assert poller.state("7") is None
    assert poller.record_wait("7") == poller.settings.record_grace
    wall[0] += 30
    clock[0] += poller.interval
    assert poller.state("7") is None  # asked again
    assert poller.record_wait("7") == poller.settings.record_grace - 30
    fake_slurm.queue = {"7": "PENDING"}  # back, requeued
    clock[0] += poller.interval
    assert poller.state("7").state == PENDING and poller.ended_since("7") is None
    assert poller.record_wait("404") == 0.0 and poller.state("404") is None
    poller.vouch("405")  # accepted a moment ago, then not known: the scheduler's turbulence
    clock[0] += poller.interval
    assert poller.state("405") is None
    assert poller.record_wait("405") == poller.settings.record_grace


def test_the_accounting_source_that_answers_is_remembered_for_the_cluster(
    fake_slurm: FakeSlurm, clock
) -> None:
    """Without slurmdbd, the first process asks sacct, then sacct --completion; a later
    process (a new poller) asks only the source that answered: two programs, not three."""
    fake_slurm.database = False
    fake_slurm.accounting = {"8": "COMPLETED"}
    first = FakeHost(answer=fake_slurm)
    assert StatusPoller(SlurmAdapter(), first).state("8").state == ENDED
    assert [("--completion" in c) for c in first.commands if c[0] == "sacct"] == [False, True]
    later = FakeHost(answer=fake_slurm)
    state = StatusPoller(SlurmAdapter(), later).state("8")
    assert state.state == ENDED and state.ended_at == 1796215907.0
    assert [c[0] for c in later.commands] == ["squeue", "sacct"]
    assert "--completion" in later.commands[1]


def test_a_remembered_source_that_stops_answering_is_forgotten(
    fake_slurm: FakeSlurm, clock
) -> None:
    fake_slurm.database = False
    fake_slurm.accounting = {"8": "COMPLETED"}
    StatusPoller(SlurmAdapter(), FakeHost(answer=fake_slurm)).state("8")  # remembers --completion
    fake_slurm.accounting = {"9": "FAILED"}
    fake_slurm.database = True  # the site set slurmdbd up; the completion log is gone
    slurm_without_log = FakeSlurm()
    slurm_without_log.accounting = {"9": "FAILED"}

    def no_completion_log(argv: list[str]) -> CommandResult:
        if "--completion" in argv:
            return CommandResult(1, "", "sacct: error: Job completion logging is disabled")
        return slurm_without_log(argv)

    StatusPoller(SlurmAdapter(), FakeHost(answer=no_completion_log)).state("9")
    host = FakeHost(answer=no_completion_log)
    assert StatusPoller(SlurmAdapter(), host).state("9").state == ENDED
    assert [c[0] for c in host.commands] == ["squeue", "sacct"]
