"""Submitting job bodies through PSI/J.

One PSI/J executor per scheduler and host serves every submission of this process.  PSI/J
writes the scheduler script from its own template around our job body and runs the submit
command; it is not asked about job states (:mod:`packtivity.batch.poller` does that, see
``../shared/notes`` §4 for why), so its own polling thread is parked and it keeps its files.
Commands PSI/J runs go through the :class:`~packtivity.hosts.Host` seam.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from ..hosts import Host
from ..jobscript import JobBody
from .resources import Resources
from .scheduler import SchedulerAdapter, is_transient

log = logging.getLogger(__name__)
#: PSI/J's launcher scripts are deployed once here; it must be visible from compute nodes
PSIJ_HOME = os.path.join("~", ".packtivity", "psij")
#: seconds PSI/J's own poll thread sleeps before its first poll: longer than any process lives
PARKED = 10**8
SUBMIT_ATTEMPTS = 5

_executors: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


class SubmissionError(BadInput):
    """The scheduler refused the job (bad partition, too many CPUs, ...); nothing runs."""


@dataclass(frozen=True)
class Submitted:
    native_id: str
    psij_job_id: str
    submit_script: str  #: the scheduler script PSI/J wrote ("" for the local executor)


def _run_via(host: Host):  # noqa: ANN202 - PSI/J's _run_command contract
    def run_command(cmd: list[str]) -> str:
        result = host.run([str(part) for part in cmd])
        if result.returncode != 0:
            message = "\n".join(p for p in (result.output, result.errors) if p) or "unknown error"
            raise subprocess.CalledProcessError(result.returncode, cmd, output=message)
        return result.output

    return run_command


def executor_for(adapter: SchedulerAdapter, host: Host) -> Any:
    """The PSI/J executor of this process for ``adapter`` on ``host`` (created once)."""
    key = (adapter.psij_executor, host.name)
    with _lock:
        if key not in _executors:
            from psij import JobExecutor
            from psij.executors.batch.batch_scheduler_executor import (
                BatchSchedulerExecutorConfig,
            )

            if adapter.psij_executor == "local":
                executor = JobExecutor.get_instance("local")
            else:
                config = BatchSchedulerExecutorConfig(
                    work_directory=Path(os.path.expanduser(PSIJ_HOME)),
                    initial_queue_polling_delay=PARKED,
                    queue_polling_interval=PARKED,
                    keep_files=True,
                )
                executor = JobExecutor.get_instance(adapter.psij_executor, config=config)
                executor._run_command = _run_via(host)  # the Host seam (notes §5)
            _executors[key] = executor
        return _executors[key]


def _job_spec(adapter: SchedulerAdapter, body: JobBody, resources: Resources, name: str) -> Any:
    from psij import JobAttributes, JobSpec, ResourceSpecV1

    if adapter.name == "local":
        # detach: the job body gets its own session and outlives this process
        return JobSpec(
            executable="/bin/sh",
            arguments=[
                "-c",
                'setsid sh "$0" </dev/null >/dev/null 2>&1 & echo $!',
                body.script_path,
            ],
            directory=body.cwd,
            stdout_path=Path(body.script_path + ".pid"),
        )
    custom = {f"{adapter.psij_executor}.{k}": v for k, v in resources.scheduler_options.items()}
    custom.setdefault("slurm.job-name" if adapter.name == "slurm" else "pbs.N", name)
    attributes = JobAttributes(
        queue_name=resources.queue,
        account=resources.account,
        reservation_id=resources.reservation,
        custom_attributes=custom,
    )
    # no walltime asked for: the queue's default, not PSI/J's 10 minutes
    attributes.duration = resources.duration()  # type: ignore[assignment]
    if adapter.name == "pbs" and resources.cpus:
        # PSI/J's PBS Pro template takes ncpus from the processes per node and ignores cores per
        # process: ask for N single-core "processes" (the single launcher still runs one)
        shape: dict[str, Any] = {"node_count": 1, "processes_per_node": resources.cpus}
    else:
        shape = {"process_count": 1, "cpu_cores_per_process": resources.cpus}
    spec_resources = ResourceSpecV1(
        gpu_cores_per_process=resources.gpus, memory=resources.memory_bytes(), **shape
    )
    return JobSpec(
        executable="/bin/sh",
        arguments=[body.script_path],
        directory=body.cwd,
        inherit_environment=True,
        attributes=attributes,
        resources=spec_resources,
    )


def submit(
    adapter: SchedulerAdapter, host: Host, body: JobBody, resources: Resources, name: str
) -> Submitted:
    """Submit the (already written) job body; transient refusals are retried with back-off."""
    from psij import Job
    from psij.exceptions import SubmitException

    executor = executor_for(adapter, host)
    spec = _job_spec(adapter, body, resources, name)
    delay = 1.0
    for attempt in range(1, SUBMIT_ATTEMPTS + 1):
        job = Job(spec)
        try:
            with _lock:  # the work directory is per step: PSI/J's files sit beside its logs
                if adapter.psij_executor != "local":
                    executor.work_directory = Path(os.path.dirname(body.script_path)) / "psij"
                executor.submit(job)
            break
        except SubmitException as error:
            message = " ".join(str(error).split())
            if attempt < SUBMIT_ATTEMPTS and is_transient(message):
                log.warning("submission attempt %s failed (%s); retrying", attempt, message)
                time.sleep(delay)
                delay *= 2
                continue
            raise SubmissionError(f"{adapter.name} refused the job: {message}") from None
    if adapter.name == "local":
        job.wait()
        native_id = host.read_text(body.script_path + ".pid").strip()
        return Submitted(native_id, job.id, "")
    script = str(executor.work_directory / f"{job.id}.job")
    return Submitted(str(job.native_id), job.id, script)


def submit_script(
    adapter: SchedulerAdapter, host: Host, body: JobBody, resources: Resources, name: str
) -> str:
    """The scheduler script PSI/J would submit for ``body`` (nothing is submitted)."""
    import io

    from psij import Job

    if adapter.name == "local":
        spec = _job_spec(adapter, body, resources, name)
        return f"# PSI/J local executor runs: {shlex.join([spec.executable, *spec.arguments])}\n"
    executor = executor_for(adapter, host)
    job = Job(_job_spec(adapter, body, resources, name))
    with _lock:
        executor.work_directory = Path(os.path.dirname(body.script_path)) / "psij"
        context = executor._create_script_context(job)  # PSI/J's own script, as submit() makes it
        out = io.StringIO()
        executor.generate_submit_script(job, context, out)
    return out.getvalue()
