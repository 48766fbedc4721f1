"""Knowing at once when a batch job ended, at low scheduler load (packtivity/batch/poller.py,
batch/backend.py): the watched jobs' run records are looked for with one batched check per
second; a clean record decides without the scheduler; a failed one is classified by the
scheduler (an end it imposed?); without a record the scheduler is asked by its own, backing-off
interval.  The cluster is a FakeHost: squeue answers and files held in memory."""

from __future__ import annotations

import json

import pytest
from fakehost import FakeHost

from packtivity.batch import poller as poller_module
from packtivity.batch.backend import BatchBackend, BatchProxy
from packtivity.batch.poller import StatusPoller
from packtivity.batch.slurm import SlurmAdapter
from packtivity.hosts.base import CommandResult
from packtivity.runrecord import RECORD_FORMAT


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(poller_module.time, "monotonic", lambda: now[0])
    return now


def cluster(queue: dict[str, str]) -> FakeHost:
    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            ids = argv[3].removeprefix("--jobs=").split(",")
            return CommandResult(0, "\n".join(f"{i}|{queue[i]}|None" for i in ids if i in queue))
        return CommandResult(1, "", "sacct: accounting storage is disabled")

    return FakeHost("cluster", answer)


def backend_on(host: FakeHost) -> BatchBackend:
    backend = BatchBackend("slurm")
    backend.host = host
    backend.poller = StatusPoller(SlurmAdapter(), host)
    return backend


def proxy(job_id: str) -> BatchProxy:
    return BatchProxy({
        "backend": "slurm", "native_id": job_id, "step": f"s{job_id}", "spec": {},
        "parameters": {}, "state": {}, "record": f"/w/_packtivity/s{job_id}.run.json",
    })  # fmt: skip


def write_record(host: FakeHost, job_id: str, exit_code: int = 0, signal: str | None = None):
    host.write_text(f"/w/_packtivity/s{job_id}.run.json", json.dumps({
        "format": RECORD_FORMAT, "step": f"s{job_id}", "exit_code": exit_code, "signal": signal,
        "start": "2026-12-02T08:00:00Z", "end": "2026-12-02T08:00:05Z", "host": "node1",
        "cwd": "/w", "command_line": "sh -c x", "stdin": False, "runtime": None,
        "runtime_version": None, "image": None, "batch_job_id": job_id,
    }))  # fmt: skip


def scheduler_programs(host: FakeHost) -> int:
    return sum(1 for argv in host.commands if argv[0] in ("squeue", "sh"))


def test_a_clean_record_decides_at_once_without_the_scheduler(clock) -> None:
    host = cluster({"7": "RUNNING"})
    backend = backend_on(host)
    running = proxy("7")
    assert backend.status(running).state == "running"
    asked = scheduler_programs(host)
    write_record(host, "7")  # the job body ended; the queue still says RUNNING (COMPLETING)
    clock[0] += 1.0  # the next record check is due
    status = backend.status(running)
    assert status.succeeded and status.finished
    assert scheduler_programs(host) == asked  # no scheduler program for it


def test_one_record_check_for_many_jobs_per_second(clock) -> None:
    host = cluster({str(i): "RUNNING" for i in range(10, 60)})
    backend = backend_on(host)
    proxies = [proxy(str(i)) for i in range(10, 60)]
    for each in proxies:  # as waiting does: every step is watched before anything is asked
        backend.watch(each)
    for _ in range(3):
        for each in proxies:
            backend.status(each)
    checks = [argv for argv in host.commands if argv[0] == "existing"]
    assert len(checks) == 1 and len(checks[0]) == 1 + 50  # one check, every record in it
    clock[0] += 1.0
    backend.status(proxies[0])
    assert len([argv for argv in host.commands if argv[0] == "existing"]) == 2


def test_a_failed_record_is_classified_by_the_scheduler(clock) -> None:
    host = cluster({"8": "TIMEOUT"})
    backend = backend_on(host)
    write_record(host, "8", exit_code=143, signal="TERM")
    status = backend.status(proxy("8"))
    assert status.finished and status.state == "timeout"  # the scheduler's end, not "failed"
    assert scheduler_programs(host) == 1


def test_without_a_record_the_scheduler_is_asked_at_its_own_pace(clock) -> None:
    host = cluster({"9": "RUNNING"})
    backend = backend_on(host)
    waiting = proxy("9")
    for _ in range(200):  # 200 s of a waiting loop that looks every second
        backend.status(waiting)
        clock[0] += backend.poll_interval()
    assert backend.poll_interval() <= 1.0
    records = len([argv for argv in host.commands if argv[0] == "existing"])
    assert records >= 150  # a record would be seen within a second
    assert scheduler_programs(host) <= 12  # backing off to one per 30 s: 1+2+4+8+16+30+...


def test_poll_knobs_from_the_config_file(tmp_path, monkeypatch, clock) -> None:
    """``poll_interval_min``, ``poll_interval_max``, ``record_interval`` (seconds) in the config
    file or a profile; bad values are one line; the scheduler is then asked at that pace."""
    from packtivity.errors import BackendError

    config = tmp_path / "config.yml"
    config.write_text(
        "poll_interval_max: 120\nrecord_interval: 2\nprofiles: {quick: {poll_interval_max: 5}}\n"
    )
    monkeypatch.setenv("PACKTIVITY_CONFIG", str(config))
    backend = BatchBackend("slurm")
    settings = backend.poller.settings
    assert (settings.interval_min, settings.interval_max, settings.record_interval) == (1, 120, 2)
    assert BatchBackend("slurm", profile="quick").poller.settings.interval_max == 5
    for bad in ("poll_interval_max: 0\n", "record_interval: fast\n",
                "poll_interval_min: 60\npoll_interval_max: 10\n"):  # fmt: skip
        config.write_text(bad)
        with pytest.raises(BackendError, match="poll_interval|record_interval"):
            BatchBackend("slurm")

    host = cluster({"9": "RUNNING"})
    poller = StatusPoller(SlurmAdapter(), host, poller_module.PollSettings(1, 120, 2))
    for _ in range(40):
        clock[0] += poller.interval
        poller.state("9")
    assert poller.interval == 120
