"""Submitting job bodies to a scheduler through PSI/J (``-b slurm``, ``-b pbs``; ``-b local``
has its own submitter, :mod:`packtivity.batch.detached`).

One PSI/J executor per scheduler and host serves every submission of this process.  PSI/J
writes the scheduler script from its own template around our job body and runs the submit
command; it is not asked about job states (:mod:`packtivity.batch.poller` does that;
``docs/architecture.md`` says why), so its own polling thread is parked and it keeps its files.
Commands PSI/J runs and files it writes go through the :class:`~packtivity.hosts.Host` seam
(:mod:`packtivity.batch.psij_host`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from ..hosts import Host
from ..jobscript import JobBody
from ..utils import one_line
from .psij_host import PSIJ_HOME, host_routed_executor, staging_directory
from .resources import Resources
from .scheduler import SchedulerAdapter, is_transient

log = logging.getLogger(__name__)
#: seconds PSI/J's own poll thread sleeps before its first poll: longer than any process lives
PARKED = 10**8
SUBMIT_ATTEMPTS = 5
_executors: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


class SubmissionError(BadInput):
    """The scheduler refused the job (bad partition, too many CPUs, ...); nothing runs."""


class LimitRefused(SubmissionError):
    """The scheduler refused the job for a per-user or per-account limit (too many jobs
    queued): it can be submitted later (:mod:`packtivity.batch.throttle` holds it)."""


@dataclass(frozen=True)
class Submitted:
    native_id: str
    psij_job_id: str
    submit_script: str  #: the scheduler script PSI/J wrote ("" for -b local: none)


def executor_for(adapter: SchedulerAdapter, host: Host) -> Any:
    """The PSI/J executor of this process for ``adapter`` on ``host`` (created once)."""
    key = (adapter.psij_executor, host.name)
    with _lock:
        if key not in _executors:
            from psij.executors.batch.batch_scheduler_executor import (
                BatchSchedulerExecutorConfig,
            )

            config = BatchSchedulerExecutorConfig(
                work_directory=staging_directory(),
                initial_queue_polling_delay=PARKED,
                queue_polling_interval=PARKED,
                keep_files=True,
            )
            _executors[key] = host_routed_executor(adapter.psij_executor, host, config)
        return _executors[key]


def _job_spec(
    adapter: SchedulerAdapter, body: JobBody, resources: Resources, name: str, psij_dir: str = ""
) -> Any:
    """PSI/J's job: ``/bin/sh BODY``.  ``psij_dir`` (a shell-safe path) is the batch job's
    working directory; the body changes to the step's own directory itself."""
    from psij import JobAttributes, JobSpec, ResourceSpecV1

    custom: dict[str, object] = {
        f"{adapter.psij_executor}.{k}": v for k, v in resources.scheduler_options.items()
    }
    custom.setdefault(adapter.job_name_attribute, name)
    attributes = JobAttributes(
        queue_name=resources.queue,
        account=resources.account,
        reservation_id=resources.reservation,
        custom_attributes=custom,
    )
    # no walltime asked for: the queue's default, not PSI/J's 10 minutes
    attributes.duration = resources.duration()  # type: ignore[assignment]
    spec_resources = ResourceSpecV1(
        gpu_cores_per_process=resources.gpus,
        memory=resources.memory_bytes(),
        **adapter.resource_shape(resources.cpus),
    )
    return JobSpec(
        executable="/bin/sh",
        arguments=[body.script_path],
        directory=psij_dir or None,
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
    psij_dir = _psij_directory(body, host)
    spec = _job_spec(adapter, body, resources, name, psij_dir)
    delay = 1.0
    for attempt in range(1, SUBMIT_ATTEMPTS + 1):
        job = Job(spec)
        try:
            with _lock:  # the work directory is per step: PSI/J's files sit beside its logs
                executor.remote_work_directory = psij_dir
                try:
                    executor.submit(job)
                finally:
                    _remove_staged_script(executor, job)
            break
        except SubmitException as error:
            message = one_line(error)
            if attempt < SUBMIT_ATTEMPTS and is_transient(message):
                log.warning("submission attempt %s failed (%s); retrying", attempt, message)
                time.sleep(delay)
                delay *= 2
                continue
            if adapter.refused_for_a_limit(message):
                raise LimitRefused(message) from None
            raise SubmissionError(f"{adapter.name} refused the job: {message}") from None
    script = os.path.join(psij_dir, f"{job.id}.job")
    return Submitted(str(job.native_id), job.id, script)


def _psij_directory(body: JobBody, host: Host) -> str:
    """Where PSI/J's script and its exit-code and output files go: beside the step's logs.

    Unless that path has characters a shell would act on: PSI/J 0.9.11's templates put paths
    in double quotes around its own single quoting (``"'/a b $(cmd)'"``), which runs ``$(cmd)``.
    Such steps get a directory named by a hash below ``PSIJ_HOME/steps/`` on the host instead.
    """
    beside_logs = os.path.join(os.path.dirname(body.script_path), "psij")
    if shlex.quote(beside_logs) == beside_logs:
        return beside_logs
    digest = hashlib.sha1(beside_logs.encode()).hexdigest()[:16]
    return host.expanduser(os.path.join(PSIJ_HOME, "steps", digest))


def _remove_staged_script(executor: Any, job: Any) -> None:
    staged = getattr(executor, "work_directory", None)
    if isinstance(staged, Path):
        (staged / f"{job.id}.job").unlink(missing_ok=True)


def submit_script(
    adapter: SchedulerAdapter, host: Host, body: JobBody, resources: Resources, name: str
) -> str:
    """The scheduler script PSI/J would submit for ``body`` (nothing is submitted)."""
    import io

    from psij import Job

    executor = executor_for(adapter, host)
    psij_dir = _psij_directory(body, host)
    job = Job(_job_spec(adapter, body, resources, name, psij_dir))
    with _lock:
        executor.remote_work_directory = psij_dir
        context = executor._create_script_context(job)  # PSI/J's own script, as submit() makes it
        out = io.StringIO()
        executor.generate_submit_script(job, context, out)
    return out.getvalue()
