"""``-b ipcluster``: packtivities on an IPython Parallel cluster (``ipcluster start -n 4``).

The cluster is found through its connection file: ``url_file`` when given, else
``ipcontroller-client.json`` of the IPython profile ``profile`` (default ``default``) under
``$IPYTHONDIR`` (default ``~/.ipython``).  Each step is one task on a load-balanced view; the
engine runs the JSON task of :mod:`packtivity.pools.task` and returns the published result.

The proxy holds the task's message id and the connection file, so any process that can read
that file can check it: the controller keeps every task's result (in memory by default) until it
is stopped.  An engine that dies while running a task is reported by the controller as an
``EngineError``, so the step fails; a message id the controller does not know (it was restarted)
is reported as unknown, never as success.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any, Optional

import ipyparallel

from ..asyncbackends import PacktivityProxyBase
from ..errors import BackendError, HostUnreachable, ProxyError, StepFailed
from ..protocol import Status
from . import task as json_task
from .backend import PoolBackend

if TYPE_CHECKING:
    from ..protocol import State

#: seconds to wait for the controller to answer a new client
CONNECT_TIMEOUT = 10.0
START_HINT = "start one with: ipcluster start -n 4"


def connection_file(profile: Optional[str] = None, url_file: Optional[str] = None) -> str:
    """The absolute path of the cluster's client connection file (it need not exist)."""
    if url_file:
        return os.path.abspath(os.path.expanduser(url_file))
    from IPython.paths import get_ipython_dir

    profile_dir = os.path.join(get_ipython_dir(), f"profile_{profile or 'default'}")
    return os.path.join(profile_dir, "security", "ipcontroller-client.json")


def connect(url_file: str) -> Any:
    """A client of the cluster whose connection file is ``url_file``; :class:`HostUnreachable`
    with one line when there is no such cluster or its controller does not answer."""
    if not os.path.exists(url_file):
        raise HostUnreachable(
            f"no IPython Parallel cluster: its connection file {url_file} does not exist "
            f"(is the cluster running, with this profile?); {START_HINT}"
        )
    try:
        return ipyparallel.Client(url_file, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError, KeyError) as error:
        raise HostUnreachable(
            f"cannot reach the IPython Parallel controller of {url_file}: {error}"
        ) from None


class IPClusterProxy(PacktivityProxyBase):
    """A task on an IPython Parallel cluster: its message id and the cluster's connection file."""

    saveable = True

    def __init__(self, msg_id: str, url_file: str, datamodel: Any = None) -> None:
        super().__init__()
        self.msg_id = msg_id
        self.url_file = url_file
        self.datamodel = datamodel

    def proxyname(self) -> str:
        return "IPClusterProxy"

    def describe(self) -> str:
        return f"IPython Parallel task {self.msg_id}"

    def details(self) -> dict[str, Any]:
        return {"msg_id": self.msg_id, "url_file": self.url_file, "datamodel": self.datamodel}

    @classmethod
    def fromJSON(cls, data: dict[str, Any]) -> IPClusterProxy:
        details = data.get("proxydetails")
        if not isinstance(details, dict) or not all(
            isinstance(details.get(key), str) for key in ("msg_id", "url_file")
        ):
            raise ProxyError("an IPClusterProxy needs proxydetails with 'msg_id' and 'url_file'")
        return cls(details["msg_id"], details["url_file"], details.get("datamodel"))


class IPythonParallelBackend(PoolBackend):
    """Run packtivities as tasks of an IPython Parallel cluster (connected at creation)."""

    def __init__(
        self,
        client: Any = None,
        packconfig_spec: Optional[dict[str, Any]] = None,
        config: Optional[dict[str, Any]] = None,
        profile: Optional[str] = None,
        url_file: Optional[str] = None,
    ) -> None:
        super().__init__(config or packconfig_spec)
        #: recorded in proxies; give ``profile`` or ``url_file`` with a ``client`` of another
        #: cluster than the default one
        self.url_file = connection_file(profile, url_file)
        self.client = client if client is not None else connect(self.url_file)
        self.view = self.client.load_balanced_view()

    @classmethod
    def for_proxy(cls, proxy: IPClusterProxy) -> IPythonParallelBackend:
        """The backend connected to the cluster the proxy's task was sent to (one connection
        per cluster in a process)."""
        return _backend_on(proxy.url_file)

    # ---- the backend interface -------------------------------------------------------------

    def submit(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> IPClusterProxy:
        task = json_task.encode(
            spec, parameters, state, metadata, self.exec_config, self.pack_config
        )
        submitted = self.view.apply_async(json_task.run, task)
        msg_id = submitted.msg_ids[0]
        self._until_recorded(msg_id)
        datamodel = state.datamodel if state is not None else None
        return IPClusterProxy(msg_id, self.url_file, datamodel)

    def _until_recorded(self, msg_id: str) -> None:
        """Wait until the controller has recorded a task just sent, so that a controller that
        does not know a proxy's task always means the task is gone."""
        deadline = time.monotonic() + CONNECT_TIMEOUT
        delay = 0.005
        while True:
            try:
                self.client.result_status([msg_id], status_only=True)
                return
            except ipyparallel.error.RemoteError as error:
                if error.ename != "KeyError":
                    raise
            if time.monotonic() > deadline:
                raise HostUnreachable(
                    f"the IPython Parallel controller of {self.url_file} did not record task "
                    f"{msg_id} within {CONNECT_TIMEOUT:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _outcome(self, proxy: IPClusterProxy) -> tuple[Status, Any]:
        """The status of the task, and its result when it succeeded."""
        try:
            known = self.client.result_status([proxy.msg_id], status_only=True)
        except ipyparallel.error.RemoteError as error:
            if error.ename != "KeyError":
                raise
            return Status(
                "unknown",
                True,
                False,
                f"the IPython Parallel controller of {self.url_file} does not know task "
                f"{proxy.msg_id} (it was restarted, or the task was sent to another cluster)",
            ), None
        if proxy.msg_id in known["pending"]:
            if not self.client.ids:
                return Status(
                    "queued", False, False, f"the cluster has no engines; {START_HINT}"
                ), None
            return Status("running", False, False), None
        try:
            result = self.client.result_status([proxy.msg_id], status_only=False)[proxy.msg_id]
        except ipyparallel.error.RemoteError as error:  # as the controller reports it
            return Status("failed", True, False, _message(error)), None
        if isinstance(result, ipyparallel.error.RemoteError):  # as this client received it
            return Status("failed", True, False, _message(result)), None
        return Status("succeeded", True, True), result

    def status(self, proxy: IPClusterProxy) -> Status:
        return self._outcome(proxy)[0]

    def result(self, proxy: IPClusterProxy) -> Any:
        """The published result; :class:`StepFailed` when the task did not succeed."""
        status, result = self._outcome(proxy)
        if not status.succeeded:
            raise StepFailed(status.message or f"task {proxy.msg_id} is {status.state}")
        return self.datamodel.create(result, proxy.datamodel)

    def cancel(self, proxy: IPClusterProxy) -> None:
        """Abort the task if no engine has started it (a running task cannot be stopped)."""
        try:
            self.client.abort([proxy.msg_id])
        except ipyparallel.error.RemoteError as error:
            raise BackendError(f"could not cancel task {proxy.msg_id}: {_message(error)}") from None


@functools.cache
def _backend_on(url_file: str) -> IPythonParallelBackend:
    """One backend (one client connection) per cluster in a process."""
    return IPythonParallelBackend(url_file=url_file)


def _message(error: Any) -> str:
    """``ename: evalue`` of a remote error (a failed step's message, or the engine's death)."""
    return f"{error.ename}: {error.evalue}" if error.ename != "StepFailed" else str(error.evalue)
