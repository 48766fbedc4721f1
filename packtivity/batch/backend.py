"""The batch backends (``-b slurm``, ``-b pbs``, ``-b local``) and their JSON proxy.

``submit`` resolves the step's image (pulling it once, here), writes the job body next to the
step's logs, and submits it through PSI/J.  The proxy holds everything a new process needs to
answer for the job: scheduler, native id, spec, parameters, state, paths.  ``ready`` and
``successful`` ask the process-wide poller and read the run record; ``result`` runs the
publisher on the shared storage.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Optional

from ..apptainer.settings import as_flag
from ..asyncbackends import ForegroundBackend, PacktivityProxyBase
from ..errors import BackendError, ProxyError, StepFailed
from ..hosts import Host, HostUnreachable, host_for, local_host
from ..jobscript import JobBody, proxy_path, render_job_body, with_run_id, write_job_body
from ..outcome import CANCELLED, FAILED, NOT_SUBMITTED, PENDING, Outcome, decide
from ..plan import plan_step, runs_a_job
from ..protocol import HostedState, Status, status_from_answers
from ..runrecord import RunRecord, read_run_record, seconds_of
from ..syncbackends import ExecutionConfig, finalize_inputs, packconfig, prepublish, publish
from . import SCHEDULERS, detached
from . import resources as resources_module
from .adapters import adapter as scheduler_adapter
from .poller import poller_for, run_scheduler_command
from .retry import RetryPolicy, grown, request_from_json, request_json
from .submission import Submitted, submit
from .throttle import Waiting, process_alive, queue_for, this_process

if TYPE_CHECKING:
    from ..protocol import State

log = logging.getLogger(__name__)

#: the backend options that set resources (the CLI flags have the same names)
RESOURCE_OPTIONS = resources_module.RESOURCE_FLAGS


class BatchProxy(PacktivityProxyBase):
    """A submitted batch job: ``{"proxyname": "BatchProxy", "proxydetails": {...}}``."""

    saveable = True

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(details=details)

    def proxyname(self) -> str:
        return "BatchProxy"

    @property
    def native_id(self) -> str:
        """The scheduler's id of the job ("" while the submission waits for a queue slot)."""
        return str(self.details().get("native_id") or "")

    def describe(self) -> str:
        details = self.details()
        if not self.native_id:
            return f"{details['backend']} step '{details['step']}' (not submitted)"
        return f"{details['backend']} job {details['native_id']} (step '{details['step']}')"

    @classmethod
    def fromJSON(cls, data: dict[str, Any]) -> BatchProxy:
        details = data.get("proxydetails")
        needed = ("backend", "native_id", "step", "spec", "parameters", "state", "record")
        if not isinstance(details, dict) or any(key not in details for key in needed):
            raise ProxyError(f"a BatchProxy needs proxydetails with {', '.join(needed)}")
        if details["backend"] not in SCHEDULERS:
            raise ProxyError(f"BatchProxy of unknown backend '{details['backend']}'")
        pattern = scheduler_adapter(details["backend"]).native_id_pattern
        if details["native_id"] is None and isinstance(details.get("submitter"), dict):
            return cls(details)  # a submission that waited for a queue slot
        if not isinstance(details["native_id"], str) or not re.fullmatch(
            pattern, details["native_id"]
        ):
            raise ProxyError(
                f"native_id {details['native_id']!r:.80} is not a {details['backend']} job id "
                "(a damaged or hand-made proxy: nothing is asked or signalled for it)"
            )
        return cls(details)


class BatchBackend:
    """Run each packtivity as one batch job; ``scheduler`` is slurm, pbs or local."""

    saveable_proxies = True

    def __init__(
        self,
        scheduler: str,
        config: Optional[dict[str, Any]] = None,
        profile: Optional[str] = None,
        scheduler_option: Any = None,
        ssh: Optional[str] = None,
        accept_new_host_key: Any = False,
        queue_size: Any = None,
        submit_rate_limit: Any = None,
        retries: Any = None,
        retry_on: Any = None,
        retry_grow: Any = None,
        **resource_options: Any,
    ) -> None:
        unknown = set(resource_options) - set(RESOURCE_OPTIONS)
        if unknown:
            known = ", ".join(
                ["config", "profile", "scheduler_option", "ssh", "accept_new_host_key"]
                + ["queue_size", "submit_rate_limit", "retries", "retry_on", "retry_grow"]
                + list(RESOURCE_OPTIONS)
            )
            raise BackendError(
                f"unknown option(s) {', '.join(sorted(unknown))} for -b {scheduler}; known: {known}"
            )
        config = dict(config or {})
        self.scheduler = scheduler
        self.adapter = scheduler_adapter(scheduler)
        self.exec_config = ExecutionConfig(config.pop("exec", None))
        self.pack_config = packconfig(**config)
        self.profile = profile
        self.options = dict(resource_options)
        if scheduler_option:
            self.options["scheduler_options"] = scheduler_option
        self.resources(None)  # a bad config file or option fails here, before any submission
        if ssh is not None and not str(ssh).strip():
            # an unset $CLUSTER in a script must not run a cluster's job on the laptop
            raise BackendError(
                "--ssh '': the SSH target is empty; give [user@]host[:port] or a ~/.ssh/config "
                "alias (leave --ssh out to run on this machine)"
            )
        #: the SSH target as given (``--ssh``, ``ssh=``, or the profile's ``ssh``), or None
        self.ssh = ssh or resources_module.ssh_from_config_file(profile)
        self.host: Host = host_for(
            self.ssh,
            as_flag(accept_new_host_key, "accept_new_host_key"),
            resources_module.ssh_transport_from_config_file(profile) if self.ssh else "paramiko",
        )
        self.poller = poller_for(
            self.adapter, self.host, resources_module.poll_settings_from_config_file(profile)
        )
        retry_options = {"retries": retries, "retry_on": retry_on, "retry_grow": retry_grow}
        self.retry_policy = resources_module.retry_policy(profile, retry_options, scheduler)
        limits = {"queue_size": queue_size, "submit_rate_limit": submit_rate_limit}
        self.queue = queue_for(
            self.poller, resources_module.submit_limits(profile, limits, scheduler)
        )

    def bind(self, state: Optional[State]) -> Any:
        """``state`` with its directories on this backend's host (the cluster's storage)."""
        if state is None or (isinstance(state, HostedState) and state.host is self.host):
            return state
        if not isinstance(state, HostedState):
            if self.host is local_host():
                return state
            raise BackendError(
                f"state {type(state).__name__} cannot be used over SSH (it has no on_host)"
            )
        return state.on_host(self.host)

    def check_host(self) -> None:
        """:class:`BackendError` when the host lacks the scheduler's submit program (``-b
        slurm`` where there is no Slurm), before anything is written or submitted."""
        program = self.adapter.submit_program
        if self.host.which(program) is None:
            raise BackendError(
                f"'{program}' is not on the PATH of {self.host.name}: -b {self.scheduler} "
                f"submits with it (is it a login node of a {self.scheduler} cluster?)"
            )

    def resources(self, environment: Optional[dict[str, Any]]) -> resources_module.Resources:
        base = resources_module.from_config_file(self.profile)
        from_spec = resources_module.from_spec(environment)
        return base.merged(from_spec, "the spec's resources").merged(
            self.options, f"the options of -b {self.scheduler}"
        )

    # ---- the backend interface -------------------------------------------------------------

    def prepublish(self, spec: Any, parameters: Any, state: Optional[State]) -> Any:
        return prepublish(spec, parameters, self.bind(state), self.pack_config)

    def submit(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> Any:
        metadata = metadata or {"name": "packtivity"}
        state = self.bind(state)
        if not runs_a_job(spec):  # publish (or show instructions) here
            return ForegroundBackend({"exec": self.exec_config.config}).submit(
                spec, parameters, state, metadata
            )
        state.ensure()
        resources = self.resources(spec["environment"])
        return BatchProxy(
            self._submit_attempt(spec, parameters, state, metadata, resources, self.retry_policy)
        )

    def _submit_attempt(
        self,
        spec: Any,
        parameters: Any,
        state: State,
        metadata: dict[str, Any],
        resources: resources_module.Resources,
        policy: RetryPolicy,
        attempt: int = 1,
        why: str = "",
    ) -> dict[str, Any]:
        """Write a run's job body and submit it (or queue it for a slot); its proxy's details,
        filled in further when it is submitted."""
        metadata = with_run_id(metadata)  # this submission's files and job: <name>-<run id>
        body = self.plan(spec, parameters, state, metadata, self.exec_config)
        write_job_body(body, self.host)
        name = metadata["name"]
        from .. import __version__

        details: dict[str, Any] = {
            "backend": self.scheduler,
            "ssh": self.ssh,
            "executor": self.adapter.psij_executor,
            "native_id": None,  # until it is submitted (it may wait for a queue slot)
            "psij_job_id": None,
            "job_name": name,
            "step": body.step,
            "spec": spec,
            "parameters": parameters.json() if hasattr(parameters, "json") else parameters,
            "state": state.json(),
            "metadata": metadata,
            "record": body.record_path,
            "log": body.logfile,
            "job_body": body.script_path,
            "submit_script": None,
            "resources": resources.describe(),
            "submitted": None,
            "packtivity_version": __version__,
            "attempt": attempt,
            "why": why,  #: why this attempt was made ("after timeout, with walltime ...")
            "retry": policy.json(),
            "request": request_json(resources),
        }

        def submit_now() -> Submitted:
            if self.adapter.detached:
                return detached.submit(self.host, body)
            return submit(self.adapter, self.host, body, resources, name)

        def submitted(job: Submitted) -> None:
            log.info("submitted %s as %s job %s", body.step, self.scheduler, job.native_id)
            self.poller.watch([job.native_id])
            self.poller.watch_record(job.native_id, body.record_path)
            details.update(
                native_id=job.native_id,
                psij_job_id=job.psij_job_id,
                submit_script=job.submit_script,
                submitted=datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
            )
            self._keep(BatchProxy(details))

        if not self.queue.submit(Waiting(details, submit_now, submitted)):
            details.setdefault("submitter", this_process())
            log.info("%s %s", body.step, self.queue.waiting(body.record_path))
            self._keep(BatchProxy(details))
        return details

    def _keep(self, proxy: BatchProxy, **marks: str) -> None:
        """The proxy beside the step's run record (:func:`proxy_path`): how ``packtivity-util
        status DIR`` finds the steps of a run, whoever holds their handles; ``marks`` are added
        beside ``proxyname`` (``superseded_by``: the next attempt's kept proxy)."""
        kept = {**proxy.json(), **marks}
        self.host.write_text(
            proxy_path(proxy.details()["record"]), json.dumps(kept, indent=1) + "\n"
        )

    def plan(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: dict[str, Any],
        exec_config: ExecutionConfig,
    ) -> JobBody:
        """The job body of a step (:func:`packtivity.plan.plan_step`); the image is pulled
        first when needed (with a dry-run ``exec_config``, only printed)."""
        return plan_step(
            spec,
            parameters,
            state,
            metadata,
            self.pack_config,
            exec_config,
            self.host,
            job_id_variable=self.adapter.job_id_variable or None,
        )

    def show_script(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> str:
        """The scheduler script and the job body that ``submit`` would submit (nothing is
        submitted, written or pulled; a submission would get another run id)."""
        from .submission import submit_script

        if not runs_a_job(spec):
            return "# this step runs no job: it is published where it is submitted\n"
        state = self.bind(state)
        dry_run = ExecutionConfig({**self.exec_config.config, "dry_run": True})
        metadata = with_run_id(metadata or {"name": "packtivity"})
        body = self.plan(spec, parameters, state, metadata, dry_run)
        resources = self.resources(spec["environment"])
        if self.adapter.detached:
            scheduler_script = detached.script(body)
        else:
            scheduler_script = submit_script(
                self.adapter, self.host, body, resources, metadata["name"]
            )
        return (
            f"# ---- {self.scheduler} script (PSI/J), resources: {resources.describe()}\n"
            f"{scheduler_script}"
            f"# ---- job body {body.script_path}\n{render_job_body(body)}"
        )

    def outcome(self, proxy: Any, max_age: Optional[float] = None) -> Outcome:
        """How the step stands now (see :mod:`packtivity.outcome`): its current attempt's
        verdict, or -- when that attempt ended in a way its retry policy retries -- the next
        attempt's, submitted here or followed where another process submitted it."""
        verdict = self._verdict(proxy, max_age)
        details = proxy.details()
        attempt = int(details.get("attempt") or 1)
        policy = RetryPolicy.from_json(details.get("retry"))
        if verdict.finished and policy.allows(attempt, verdict.status):
            successor = self._next_attempt(proxy, verdict, policy, attempt)
            if successor is None:
                return Outcome(
                    PENDING, None, f"{proxy.describe()}: attempt {attempt + 1} is being submitted"
                )
            previous = {key: details.get(key) for key in _ATTEMPT_KEYS}
            previous.update(status=verdict.status, message=verdict.message)
            history = [*details.get("attempts", []), previous]
            details.clear()
            details.update(successor, attempts=history)
            return self.outcome(proxy, max_age)
        if attempt > 1 and not verdict.succeeded:  # which attempt waits, runs or failed, why
            said = f"attempt {attempt} of {policy.retries + 1} {details.get('why', '')}".strip()
            return dataclasses.replace(
                verdict, message=f"{said}: {verdict.message}" if verdict.message else said
            )
        return verdict

    def _next_attempt(
        self, proxy: BatchProxy, verdict: Outcome, policy: RetryPolicy, attempt: int
    ) -> Optional[dict[str, Any]]:
        """The details of the attempt after ``proxy``'s: submitted here when this process is
        the first to claim the retry (``mkdir``, atomic on any file system, here or over SSH),
        else read from where the process that claimed it keeps it (None: not written yet)."""
        details = proxy.details()
        kept = proxy_path(details["record"])
        claim = details["record"] + ".retried"
        claimed = self.host.run(["mkdir", claim])
        if claimed.returncode != 0:
            if not self.host.is_dir(claim):  # not a lost race: the directory cannot be written
                raise BackendError(
                    f"cannot retry {proxy.describe()}: mkdir {claim}: {claimed.errors.strip()}"
                )
            try:
                pointer = json.loads(self.host.read_text(kept)).get("superseded_by")
                return json.loads(self.host.read_text(pointer))["proxydetails"] if pointer else None
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                return None
        from ..statecontexts import load_state

        before = request_from_json(details.get("request")) or self.resources(
            details["spec"]["environment"]
        )
        resources, change = grown(before, verdict.status, policy.grow)
        why = f"after {verdict.status}, with {change or 'the same resources'}"
        log.warning(
            "%s; attempt %d of %d %s", verdict.message, attempt + 1, policy.retries + 1, why
        )
        state = self.bind(load_state(details["state"]))
        metadata = {"name": details["metadata"].get("step") or details["step"]}
        successor = self._submit_attempt(
            details["spec"], details["parameters"], state, metadata, resources, policy,
            attempt + 1, why,
        )  # fmt: skip
        self._keep(proxy, superseded_by=proxy_path(successor["record"]))
        return successor

    def _verdict(self, proxy: Any, max_age: Optional[float] = None) -> Outcome:
        """How the current attempt's job stands."""
        if not proxy.native_id and not self._submitted_since(proxy):
            return self._not_submitted(proxy)
        # A record seen by the poller's batched check (every second) decides at once when it
        # says the command exited cleanly.  Without one: the scheduler first, the record
        # second -- a job the scheduler saw end wrote its record before it ended, so the record
        # is then there to read (the other order races: no record yet, then the job ends, and
        # "ended without a run record" would be reported).
        details = proxy.details()
        self.poller.watch_record(proxy.native_id, details["record"])
        if _seconds_since(details.get("submitted")) < self.poller.settings.record_grace:
            self.poller.vouch(proxy.native_id)  # an "unknown" now is the scheduler's turbulence
        if max_age is None and self.poller.record_seen(proxy.native_id):
            # the cheap signal: a record written with a clean exit needs no scheduler; any
            # other record is classified with the scheduler's word (an end it imposed?)
            record = self._own_record(proxy)
            if record is not None and record.succeeded:
                return decide(proxy.describe(), record, None)
            state = self.poller.state(proxy.native_id, self.poller.settings.interval_min)
            return decide(proxy.describe(), record, state)
        scheduler_state = self.poller.state(proxy.native_id, max_age)
        record = self._own_record(proxy)
        # ended by itself with no record visible yet: "ending" for the poller's grace period
        wait = self.poller.record_wait(proxy.native_id) if record is None else 0.0
        return decide(proxy.describe(), record, scheduler_state, wait)

    def _submitted_since(self, proxy: BatchProxy) -> bool:
        """Whether this process has submitted the step of ``proxy`` (a copy of a proxy that
        waited) since; the copy then gets the job's id."""
        live = self.queue.details_of(proxy.details()["record"])
        if live is None or live is proxy.details():
            return False
        for key in ("native_id", "psij_job_id", "submit_script", "submitted", "submit_error"):
            proxy.details()[key] = live.get(key)
        return bool(proxy.native_id)

    def _not_submitted(self, proxy: BatchProxy) -> Outcome:
        """The outcome of a step that waited for a queue slot and has not been submitted."""
        details = proxy.details()
        if details.get("submit_error"):
            return Outcome(FAILED, None, f"{proxy.describe()}: {details['submit_error']}")
        if details.get("withdrawn"):
            return Outcome(CANCELLED, None, f"{proxy.describe()} was cancelled while it waited")
        why = self.queue.waiting(details["record"])
        if why is not None:
            return Outcome(PENDING, None, f"{proxy.describe()}: {why}")
        submitter = details.get("submitter") or {}
        where = f"process {submitter.get('pid')} on {submitter.get('host')}"
        alive = process_alive(submitter)
        if alive is None:
            return Outcome(
                PENDING,
                None,
                f"{proxy.describe()}: waiting for a queue slot in {where} (another machine: "
                "whether that process still runs cannot be told from here)",
            )
        if alive:
            return Outcome(
                PENDING, None, f"{proxy.describe()}: waiting for a queue slot in {where}"
            )
        return Outcome(
            NOT_SUBMITTED,
            None,
            f"{proxy.describe()} was never submitted: it waited for a queue slot in {where}, "
            "which ended first",
        )

    def _own_record(self, proxy: BatchProxy) -> Optional[RunRecord]:
        """The proxy's run record, if there is one and it is this job's."""
        details = proxy.details()
        record = read_run_record(self.host, details["record"])
        if record is not None and record.step != details["step"]:
            # another submission's record (the files of each are named by its run id, so this
            # takes a hand-made copy or a proxy edited to point elsewhere): never this job's end
            log.warning(
                "%s is the run record of step %s, not of %s: ignored",
                details["record"],
                record.step,
                details["step"],
            )
            record = None
        return record

    def watch(self, proxy: Any) -> None:
        """Include this job in the poller's next status command (one command for all)."""
        if isinstance(proxy, BatchProxy) and proxy.native_id:
            self.poller.watch([proxy.native_id])
            self.poller.watch_record(proxy.native_id, proxy.details()["record"])

    def poll_interval(self) -> float:
        """Seconds until the next look: the run records are looked for every
        ``record_interval``; the scheduler is asked by its own, backing-off interval."""
        return min(self.poller.settings.record_interval, float(self.poller.interval))

    def status(self, proxy: Any) -> Status:
        """How the job stands (see :meth:`outcome`); :class:`HostUnreachable` passes through,
        so that a waiting caller asks again later."""
        if not isinstance(proxy, BatchProxy):  # a pure publishing step, published at submission
            return status_from_answers(self, proxy)
        outcome = self.outcome(proxy)
        return Status(
            outcome.status, outcome.finished, outcome.succeeded, outcome.message, outcome.exit_code
        )

    def ready(self, proxy: Any) -> bool:
        """Whether the job has finished; False while its host cannot be reached (the caller
        asks again later: a lost connection never fails a job)."""
        if not isinstance(proxy, BatchProxy):
            return ForegroundBackend().ready(proxy)
        try:
            return self.outcome(proxy).finished
        except HostUnreachable as error:
            log.warning("%s; asking again later", error)
            return False

    def successful(self, proxy: Any) -> bool:
        if not isinstance(proxy, BatchProxy):
            return ForegroundBackend().successful(proxy)
        return self.outcome(proxy).succeeded

    def fail_info(self, proxy: Any) -> Any:
        if not isinstance(proxy, BatchProxy):
            return ForegroundBackend().fail_info(proxy)
        outcome = self.outcome(proxy)
        return None if outcome.succeeded else outcome.message

    def result(self, proxy: Any) -> Any:
        """The published result of a finished job; :class:`StepFailed` when it did not succeed."""
        if not isinstance(proxy, BatchProxy):
            return ForegroundBackend().result(proxy)
        outcome = self.outcome(proxy)
        if not outcome.succeeded:
            raise StepFailed(
                outcome.message + f" (log: {proxy.details().get('log')})",
                returncode=outcome.exit_code,
                log_tail=self._log_tail(proxy),
            )
        from ..statecontexts import load_state

        details = proxy.details()
        state = self.bind(load_state(details["state"]))
        parameters, state = finalize_inputs(details["parameters"], state)
        return publish(details["spec"]["publisher"], parameters, state, self.pack_config)

    def usage(self, proxies: list[Any]) -> dict[str, dict[str, str]]:
        """What the jobs of ``proxies`` asked for and used, in one scheduler command ({}: the
        scheduler keeps no account, or does not answer)."""
        ids = sorted({p.native_id for p in proxies if isinstance(p, BatchProxy) and p.native_id})
        command = self.adapter.usage_command(ids) if ids else None
        if command is None:
            return {}
        result = run_scheduler_command(
            self.host, self.scheduler, command, self.adapter.command_environment
        )
        return self.adapter.parse_usage(result.returncode, result.output)

    def cancel(self, proxy: BatchProxy) -> None:
        if not proxy.native_id and not self._submitted_since(proxy):
            if self.queue.withdraw(proxy.details()["record"]):
                proxy.details()["withdrawn"] = True
                return
            raise BackendError(
                f"{proxy.describe()} is not in the queue: {self._not_submitted(proxy).message}"
            )
        job_name = str(proxy.details().get("job_name") or "")
        result = run_scheduler_command(
            self.host, self.scheduler, self.adapter.cancel_command(proxy.native_id, job_name)
        )
        if result.returncode != 0:
            raise BackendError(
                f"could not cancel {proxy.describe()}: {(result.errors or result.output).strip()}"
            )

    def _log_tail(self, proxy: BatchProxy, lines: int = 20) -> str:
        path = proxy.details().get("log")
        if not path:
            return ""
        try:
            text = self.host.read_text(path)
        except (FileNotFoundError, UnicodeDecodeError):
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _seconds_since(timestamp: Optional[str]) -> float:
    """Seconds since an ISO 8601 ``timestamp`` (inf: none; NaN: unreadable)."""
    return time.time() - seconds_of(timestamp) if timestamp else float("inf")


#: what the proxy keeps of each earlier attempt (with how it ended)
_ATTEMPT_KEYS = ("attempt", "native_id", "record", "log", "job_body", "step", "request")
