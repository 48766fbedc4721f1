"""PSI/J's Slurm executor with its I/O routed through a host (packtivity/batch/psij_host.py),
against a FakeHost: the submit script lands on the host, in the step's directory, with the
host's paths in it; sbatch runs on the host; a refusal comes back as PSI/J's error.  Runs the
real PSI/J (its script templates, its submission logic); only the machine is a stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehost import FakeHost

from packtivity.batch.psij_host import host_routed_executor
from packtivity.hosts.base import CommandResult

PARKED = 10**6  # as packtivity runs it: PSI/J's own poll thread never asks


def routed(host: FakeHost, staging: Path):
    from psij.executors.batch.batch_scheduler_executor import BatchSchedulerExecutorConfig

    config = BatchSchedulerExecutorConfig(
        work_directory=staging, initial_queue_polling_delay=PARKED,
        queue_polling_interval=PARKED, keep_files=True,
    )  # fmt: skip
    return host_routed_executor("slurm", host, config)


def job(script: str):
    from psij import Job, JobSpec

    return Job(JobSpec(executable="/bin/sh", arguments=[script], directory="/cluster/w"))


def test_the_script_and_sbatch_go_to_the_host(tmp_path: Path) -> None:
    def sbatch(argv: list[str]) -> CommandResult:
        return (
            CommandResult(0, "Submitted batch job 4242\n")
            if argv[0] == "sbatch"
            else (CommandResult(0, ""))
        )

    host = FakeHost("cluster", answer=sbatch)
    executor = routed(host, tmp_path / "staging")
    executor.remote_work_directory = "/cluster/w/_packtivity/psij"
    submitted = job("/cluster/w/_packtivity/step.job.sh")
    executor.submit(submitted)
    assert submitted.native_id == "4242"
    (sbatch_argv,) = [c for c in host.commands if c[0] == "sbatch"]
    script_path = sbatch_argv[1]
    assert script_path.startswith("/cluster/w/_packtivity/psij/")
    script = host.files[script_path]
    assert '#SBATCH --chdir="/cluster/w"' in script
    assert '> "/cluster/w/_packtivity/psij/$SLURM_JOB_ID.ec"' in script  # PSI/J's files there
    assert "/home/fake/.packtivity/psij/" in script  # the launcher, shipped to the host's home
    assert any(path.startswith("/home/fake/.packtivity/psij/") for path in host.files)
    assert "/cluster/w/_packtivity/step.job.sh" in script
    assert str(tmp_path) not in script  # no path of the submitting machine


def test_a_refused_submission_is_psijs_submit_exception(tmp_path: Path) -> None:
    from psij.exceptions import SubmitException

    host = FakeHost("cluster", answer=lambda argv: CommandResult(
        1, "", "sbatch: error: QOSMaxSubmitJobPerUserLimit"))  # fmt: skip
    executor = routed(host, tmp_path / "staging")
    executor.remote_work_directory = "/cluster/w/_packtivity/psij"
    with pytest.raises(SubmitException, match="QOSMaxSubmitJobPerUserLimit"):
        executor.submit(job("/cluster/w/_packtivity/step.job.sh"))
