"""``-b celery``: packtivities as Celery tasks, on a Redis broker.

The broker and result backend are ``PACKTIVITY_CELERY_REDIS_BROKER`` (default
``redis://localhost:6379``), read when this module is imported, on both sides.  Start workers
with::

    celery -A packtivity.pools.celery worker --loglevel INFO

Tasks and results are JSON (:mod:`packtivity.pools.task`); a worker accepts nothing else.
Workers run on machines that see the step's work directories, and publish there.

How a task ended is decided here, not taken on trust (``status``):

* submission stores the state ``SENT`` before the message is sent, so ``PENDING`` (Celery's
  answer for any id it has no record of) means the record is gone: reported as failed, never as
  still waiting;
* a task in ``STARTED`` whose worker no longer answers, or answers without it among its active
  tasks, was lost with its worker (killed, node lost): reported as failed.  Celery itself
  reports a killed pool process as ``FAILURE`` (``WorkerLostError``).  Lost tasks are not sent
  again: a step half-run in its work directory should be looked at before it is re-run.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from typing import TYPE_CHECKING, Any, Optional

from celery import Celery
from kombu.utils.url import maybe_sanitize_url

from ..asyncbackends import PacktivityProxyBase, describe_failure
from ..errors import BackendError, HostUnreachable, ProxyError, StepFailed
from ..protocol import Status
from . import task as json_task
from .backend import PoolBackend

if TYPE_CHECKING:
    from ..protocol import State

BROKER_VARIABLE = "PACKTIVITY_CELERY_REDIS_BROKER"
DEFAULT_BROKER = "redis://localhost:6379"
TASK_NAME = "packtivity.run"
PASSWORD_MASK = "***"
#: the state a submitted task has in the result backend until a worker starts it
SENT = "SENT"
#: seconds to wait for the worker of a started task to answer
WORKER_REPLY_TIMEOUT = 2.0
#: seconds between two checks that the worker of a started task still has it
LIVENESS_INTERVAL = 5.0


def broker_url() -> str:
    """The broker (and result backend) URL; :class:`BackendError` for one that is not a URL."""
    url = os.environ.get(BROKER_VARIABLE, DEFAULT_BROKER)
    scheme, sep, location = url.partition("://")
    if not sep or not scheme or not location:
        raise BackendError(f"{BROKER_VARIABLE} must be a URL like redis://host:6379/0, got '{url}'")
    return url


def make_app(broker: Optional[str] = None) -> Celery:
    """A Celery app for packtivity tasks: JSON only, results kept, one task per worker slot."""
    broker = broker or broker_url()
    app = Celery("packtivity")
    app.conf.update(
        broker_url=broker,
        result_backend=broker,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_expires=None,  # a proxy may be checked days later
        result_extended=True,  # the task's name and worker are in its record
        task_track_started=True,  # STARTED, with the worker's name, is how a lost task is found
        worker_prefetch_multiplier=1,  # steps are long: do not hold a queue of them per worker
        broker_transport_options={
            "visibility_timeout": int(os.environ.get("PACKTIVITY_CELERY_VISIBILITY_TIMEOUT", 86400))
        },
        broker_connection_retry_on_startup=True,
        # a submitter or checker fails after a few seconds rather than hanging on a dead broker
        broker_connection_timeout=5,
        redis_socket_connect_timeout=5,
        redis_socket_timeout=30,
        result_backend_always_retry=False,
    )
    return app


app = make_app()


@app.task(name=TASK_NAME, bind=True)
def run_packtivity_task(self: Any, task: dict[str, Any]) -> Any:
    """Run one packtivity (a JSON task) in this worker; return its published result."""
    if os.environ.get("PACKTIVITY_CELERY_GLOBAL_NAMETAG") == "true":
        task["metadata"]["name"] = self.request.id
    return json_task.run(task)


class CeleryProxy(PacktivityProxyBase):
    """A submitted Celery task: ``{"proxyname": "CeleryProxy", "proxydetails": {"task_id"}}``."""

    saveable = True

    def __init__(self, task_id: Any, datamodel: Any = None, broker: Optional[str] = None) -> None:
        """``task_id`` is the task's id, or (the original's signature) its ``AsyncResult``."""
        super().__init__()
        self.task_id = str(getattr(task_id, "task_id", task_id))
        self.datamodel = datamodel
        #: the broker it was sent to, without a password
        self.broker = broker

    def proxyname(self) -> str:
        return "CeleryProxy"

    def describe(self) -> str:
        return f"Celery task {self.task_id}"

    def details(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "datamodel": self.datamodel, "broker": self.broker}

    @classmethod
    def fromJSON(cls, data: dict[str, Any]) -> CeleryProxy:
        details = data.get("proxydetails")
        if not isinstance(details, dict) or not isinstance(details.get("task_id"), str):
            raise ProxyError("a CeleryProxy needs proxydetails with a 'task_id'")
        return cls(details["task_id"], details.get("datamodel"), details.get("broker"))


def _safe(url: str) -> str:
    """A broker URL with its password masked (proxies are files users pass around)."""
    return str(maybe_sanitize_url(url, mask=PASSWORD_MASK))


class CeleryBackend(PoolBackend):
    """Run packtivities as Celery tasks (see the module docstring for how endings are decided)."""

    def __init__(
        self,
        app: Optional[Celery] = None,
        packconfig_spec: Optional[dict[str, Any]] = None,
        config: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(config or packconfig_spec)
        self.app = app or globals()["app"]
        self._checked: dict[str, float] = {}  # task id -> when its worker was last asked
        self._workers_checked = 0.0
        self._no_workers = False

    @classmethod
    def for_proxy(cls, proxy: CeleryProxy) -> CeleryBackend:
        """The backend that answers for a loaded proxy (one per broker in a process): on the
        broker the proxy names when ``PACKTIVITY_CELERY_REDIS_BROKER`` is not set and the name
        holds no hidden password, else on the variable's."""
        if BROKER_VARIABLE in os.environ or not proxy.broker or PASSWORD_MASK in proxy.broker:
            return _backend_on(None)
        return _backend_on(proxy.broker)

    def _unreachable(self, error: Exception) -> HostUnreachable:
        return HostUnreachable(
            f"cannot reach the Celery broker at {_safe(self.app.conf.broker_url)}: {error}"
        )

    def _meta(self, proxy: CeleryProxy) -> dict[str, Any]:
        from kombu.exceptions import OperationalError
        from redis.exceptions import RedisError

        try:
            return dict(self.app.backend.get_task_meta(proxy.task_id, cache=False))
        except (OperationalError, RedisError, OSError) as error:
            raise self._unreachable(error) from None

    # ---- the backend interface -------------------------------------------------------------

    def submit(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> CeleryProxy:
        from kombu.exceptions import OperationalError
        from redis.exceptions import RedisError

        task = json_task.encode(
            spec, parameters, state, metadata, self.exec_config, self.pack_config
        )
        task_id = str(uuid.uuid4())
        try:
            # recorded before sending: a worker's STARTED can never be overwritten by it
            self.app.backend.store_result(task_id, None, SENT)
            self.app.send_task(TASK_NAME, args=[task], task_id=task_id)
        except (OperationalError, RedisError, OSError) as error:
            raise self._unreachable(error) from None
        return CeleryProxy(
            task_id,
            state.datamodel if state is not None else None,
            _safe(self.app.conf.broker_url),
        )

    def status(self, proxy: CeleryProxy) -> Status:
        """How the task stands now."""
        meta = self._meta(proxy)
        state = meta.get("status")
        if state == "SUCCESS":
            return Status("succeeded", True, True)
        if state == "FAILURE":
            return Status("failed", True, False, _failure_message(meta.get("result")))
        if state == "REVOKED":
            return Status("cancelled", True, False, f"Celery task {proxy.task_id} was revoked")
        if state == SENT:
            return Status("queued", False, False, self._no_worker_hint())
        if state == "STARTED":
            lost = self._lost(proxy, meta)
            if lost:  # recorded, so that every later check (and Flower) says the same
                from billiard.exceptions import WorkerLostError

                self.app.backend.mark_as_failure(proxy.task_id, WorkerLostError(lost))
                return Status("failed", True, False, f"WorkerLostError: {lost}")
            return Status("running", False, False)
        if state == "PENDING":
            return Status(
                "unknown",
                True,
                False,
                f"Celery task {proxy.task_id} is unknown to the result backend at "
                f"{_safe(self.app.conf.result_backend)} (submitted to another one, or its "
                "record was deleted)",
            )
        return Status(str(state).lower(), False, False)  # RETRY, RECEIVED, custom states

    def _no_worker_hint(self) -> str:
        """A hint while no worker answers on the broker (asked at most every few seconds)."""
        now = time.monotonic()
        if now - self._workers_checked >= LIVENESS_INTERVAL:
            self._workers_checked = now
            self._no_workers = not self.app.control.ping(timeout=WORKER_REPLY_TIMEOUT, limit=1)
        if not self._no_workers:
            return ""
        return (
            f"no Celery worker answers on {_safe(self.app.conf.broker_url)}; "
            f"start one with: celery -A {__name__} worker"
        )

    def _lost(self, proxy: CeleryProxy, meta: dict[str, Any]) -> Optional[str]:
        """Why a STARTED task is lost, or None while its worker still has it."""
        now = time.monotonic()
        if now - self._checked.get(proxy.task_id, 0.0) < LIVENESS_INTERVAL:
            return None
        self._checked[proxy.task_id] = now
        started = meta.get("result") or {}
        worker = started.get("hostname") or meta.get("worker")
        if not worker:
            return None
        replies = self.app.control.inspect(
            destination=[worker], timeout=WORKER_REPLY_TIMEOUT, limit=1
        ).active()
        active = (replies or {}).get(worker)
        if active is not None and any(item.get("id") == proxy.task_id for item in active):
            return None
        if self._meta(proxy).get("status") != "STARTED":  # it ended meanwhile
            self._checked.pop(proxy.task_id, None)
            return None
        if active is None:
            return (
                f"the Celery worker {worker} (pid {started.get('pid')}) that started task "
                f"{proxy.task_id} no longer answers: the task was lost with it"
            )
        return (
            f"the Celery worker {worker} no longer runs task {proxy.task_id} (it was restarted "
            "while running it): the task was lost"
        )

    def result(self, proxy: CeleryProxy) -> Any:
        """The published result; :class:`StepFailed` when the task did not succeed."""
        meta = self._meta(proxy)
        if meta.get("status") != "SUCCESS":
            status = self.status(proxy)
            raise StepFailed(status.message or f"Celery task {proxy.task_id} is {status.state}")
        return self.datamodel.create(meta["result"], proxy.datamodel)

    def cancel(self, proxy: CeleryProxy) -> None:
        """Revoke the task; a running one is terminated (its pool process gets SIGTERM)."""
        self.app.control.revoke(proxy.task_id, terminate=True)


@functools.cache
def _backend_on(broker: Optional[str]) -> CeleryBackend:
    """One backend per broker (``None``: the variable's) in a process."""
    return CeleryBackend(app=make_app(broker) if broker else None)


def _failure_message(error: Any) -> str:
    """The message of a failed task's exception, as stored by the worker."""
    if isinstance(error, dict):  # an exception the reader could not rebuild
        message = error.get("exc_message")
        if isinstance(message, (list, tuple)):
            message = " ".join(str(part) for part in message)
        return f"{error.get('exc_type', 'error')}: {message}"
    if isinstance(error, BaseException):
        return describe_failure(error)
    return str(error)
