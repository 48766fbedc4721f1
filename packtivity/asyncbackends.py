"""Asynchronous backends: submit a packtivity, get a proxy, ask about it later.

The protocol every backend follows (yadage relies on it):

* ``submit(spec, parameters, state, metadata) -> proxy`` (and optionally ``batch_submit``);
* ``ready(proxy) -> bool``: the step has ended (success or failure);
* ``successful(proxy) -> bool``: it ended and succeeded (False while not ready);
* ``result(proxy)``: the published result (raises the step's error when it failed);
* ``fail_info(proxy)``: why it failed;
* ``prepublish(spec, parameters, state)``: the result before running, or None.

Proxies serialise to ``{"proxyname": ..., "proxydetails": ...}``
(see :mod:`packtivity.backendutils` for loading them back).
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import datamodel as _datamodel
from .errors import PacktivityError, StepFailed
from .statecontexts import load_state
from .syncbackends import (
    ExecutionConfig,
    acquire_job_env,
    finalize_inputs,
    finalize_outputs,
    packconfig,
    prepublish,
    publish,
    run_in_env,
    run_packtivity,
)

if TYPE_CHECKING:
    from .protocol import State

log = logging.getLogger(__name__)

UNSAVEABLE = (
    "this proxy points into the memory of the process that submitted it ({backend} backend) "
    "and cannot be saved or checked from another process; use --asyncwait, or a batch backend "
    "(-b slurm, -b pbs, -b local) for proxies that can be checked later"
)


def proxy_details(data: Any, name: str, needed: tuple[str, ...]) -> dict[str, Any]:
    """The ``proxydetails`` of a proxy's JSON, which must be a mapping holding ``needed``;
    :class:`~packtivity.errors.ProxyError` naming what is missing otherwise."""
    from .errors import ProxyError

    details = data.get("proxydetails") if isinstance(data, dict) else None
    if not isinstance(details, dict) or any(key not in details for key in needed):
        raise ProxyError(f"a {name} needs proxydetails with {', '.join(needed)}")
    return details


class PacktivityProxyBase:
    """A serialisable handle on a submitted packtivity.

    The base class wraps an in-memory object (``self.proxy``); its JSON has no details and it
    cannot be loaded back (see :data:`UNSAVEABLE`).
    """

    saveable = False

    def __init__(self, proxy: Any = None, details: Any = None) -> None:
        if proxy is not None:
            self.proxy = proxy
        self._details = details

    def details(self) -> Any:
        return self._details

    def set_details(self, details: Any) -> None:
        self._details = details

    def proxyname(self) -> str:
        return "PacktivityProxyBase"

    def json(self) -> dict[str, Any]:
        return {"proxyname": self.proxyname(), "proxydetails": self.details()}


class ExternalAsyncProxy(PacktivityProxyBase):
    """A proxy of an external job backend: job handle plus what is needed to publish."""

    saveable = True

    def __init__(
        self, jobproxy: Any, spec: Any, statedata: Any, pardata: Any, resultdata: Any = None
    ) -> None:
        super().__init__()
        self.jobproxy = jobproxy
        self.resultdata = resultdata
        self.spec = spec
        self.statedata = statedata
        self.pardata = pardata

    def details(self) -> dict[str, Any]:
        try:
            json.dumps(self.jobproxy)
            jobproxy = self.jobproxy
        except TypeError:
            jobproxy = None
        return {
            "resultdata": self.resultdata,
            "jobproxy": jobproxy,
            "spec": self.spec,
            "statedata": self.statedata,
            "pardata": self.pardata,
        }

    def proxyname(self) -> str:
        return "ExternalAsyncProxy"

    @classmethod
    def fromJSON(cls, data: dict[str, Any]) -> ExternalAsyncProxy:
        from .errors import ProxyError

        details = proxy_details(data, "ExternalAsyncProxy", ("jobproxy", "spec", "statedata",
                                                             "pardata"))  # fmt: skip
        if not details["jobproxy"]:
            raise ProxyError("this ExternalAsyncProxy has no saved job handle and cannot be loaded")
        known = ("jobproxy", "spec", "statedata", "pardata", "resultdata")
        return cls(**{key: details[key] for key in known if key in details})


class ExternalAsyncMixin:
    """Submit jobs to an external job backend; publish when they are done."""

    def __init__(self, **kwargs: Any) -> None:
        self.job_backend = kwargs["job_backend"]
        self.deserialization_opts = kwargs.get("deserialization_opts", {})
        self.datamodel = _datamodel

    def make_external_job(
        self, spec: Any, parameters: Any, state: Optional[State], metadata: Any
    ) -> Any:
        raise NotImplementedError

    def prepublish(self, spec: Any, parameters: Any, state: Optional[State]) -> Any:
        return None

    def submit(
        self, spec: Any, parameters: Any, state: Optional[State], metadata: Any = None
    ) -> ExternalAsyncProxy:
        job = self.make_external_job(spec, parameters, state, metadata)
        jobproxy = self.job_backend.submit(job)
        return ExternalAsyncProxy(
            jobproxy, spec, state.json() if state else None, _datamodel.create(parameters).json()
        )

    def ready(self, resultproxy: ExternalAsyncProxy) -> bool:
        return bool(self.job_backend.ready(resultproxy.jobproxy))

    def successful(self, resultproxy: ExternalAsyncProxy) -> bool:
        return bool(self.job_backend.successful(resultproxy.jobproxy))

    def fail_info(self, resultproxy: ExternalAsyncProxy) -> Any:
        return self.job_backend.fail_info(resultproxy.jobproxy)


class ExternalAsyncBackend(ExternalAsyncMixin):
    """An external job backend that runs ``(job, env)``; publishing happens here."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = packconfig(**kwargs.get("config", {}))

    def prepublish(self, spec: Any, parameters: Any, state: Optional[State]) -> Any:
        return prepublish(spec, parameters, state, self.config)

    def make_external_job(
        self, spec: Any, parameters: Any, state: Optional[State], metadata: Any
    ) -> dict[str, Any]:
        parameters, state = finalize_inputs(parameters, state)
        job, env = acquire_job_env(spec, parameters, state, metadata, self.config)
        return {"job": job, "env": env, "state": state, "metadata": metadata}

    def result(self, resultproxy: ExternalAsyncProxy) -> Any:
        state = load_state(resultproxy.statedata, self.deserialization_opts)
        if resultproxy.resultdata is not None:
            return self.datamodel.create(resultproxy.resultdata, state.datamodel)
        parameters, state = finalize_inputs(resultproxy.pardata, state)
        pubdata = finalize_outputs(
            publish(resultproxy.spec["publisher"], parameters, state, self.config)
        )
        resultproxy.resultdata = pubdata.json()
        return pubdata


def describe_failure(error: BaseException) -> str:
    """A failure in one line: a packtivity error's own message, else ``Type: message``."""
    if isinstance(error, PacktivityError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class DefaultExternalJobBackend:
    """Run ``(job, env)`` dicts in a one-process pool."""

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        self.pool = multiprocessing.Pool(1)
        self.config = packconfig(**config) if config else packconfig()

    def submit(self, job: dict[str, Any]) -> Any:
        nullary = functools.partial(
            run_in_env,
            job=job["job"],
            environment=job["env"],
            state=job["state"],
            metadata=job["metadata"],
            pack_config=self.config,
        )
        return self.pool.apply_async(nullary)

    def ready(self, resultproxy: Any) -> bool:
        return bool(resultproxy.ready())

    def successful(self, resultproxy: Any) -> bool:
        return bool(resultproxy.ready() and resultproxy.successful())

    def fail_info(self, resultproxy: Any) -> Any:
        try:
            resultproxy.get()
        except Exception as error:
            return describe_failure(error)
        return None


class PythonCallableAsyncBackend:
    """Base for backends that run ``run_packtivity`` as a Python callable somewhere."""

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        config = dict(config or {})
        self.exec_config = ExecutionConfig(config.pop("exec", None))
        self.pack_config = packconfig(**config)

    def submit_callable(self, callable: Callable[[], Any]) -> Any:
        raise NotImplementedError("needs implementation")

    def prepublish(self, spec: Any, parameters: Any, state: Optional[State]) -> Any:
        return prepublish(spec, parameters, state, self.pack_config)

    def submit(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> Any:
        nullary = functools.partial(
            run_packtivity,
            spec=spec,
            parameters=parameters,
            state=state,
            metadata=metadata or {"name": "packtivity"},
            pack_config=self.pack_config,
            exec_config=self.exec_config,
        )
        return self.submit_callable(nullary)


class MultiProcBackend(PythonCallableAsyncBackend):
    """Run packtivities in a pool of ``poolsize`` worker processes (``auto``: one per CPU).

    Its proxies live in this process only (see :data:`UNSAVEABLE`).
    """

    saveable_proxies = False

    def __init__(
        self,
        poolsize: Any,
        packconfig_spec: Optional[dict[str, Any]] = None,
        config: Optional[dict[str, Any]] = None,
    ) -> None:
        # ``packconfig_spec`` is the original's name; ``config`` the one every other backend takes
        super().__init__(config or packconfig_spec)
        size = multiprocessing.cpu_count() if poolsize == "auto" else int(poolsize)
        if size < 1:
            from .errors import BackendError

            raise BackendError(f"multiproc needs a pool size of at least 1, got {poolsize}")
        log.info("configured pool size to %s", size)
        self.pool = multiprocessing.Pool(size)

    def submit_callable(self, callable: Callable[[], Any]) -> PacktivityProxyBase:
        return PacktivityProxyBase(self.pool.apply_async(callable))

    def result(self, resultproxy: PacktivityProxyBase) -> Any:
        return resultproxy.proxy.get()

    def ready(self, resultproxy: PacktivityProxyBase) -> bool:
        return bool(resultproxy.proxy.ready())

    def successful(self, resultproxy: PacktivityProxyBase) -> bool:
        return bool(self.ready(resultproxy) and resultproxy.proxy.successful())

    def fail_info(self, resultproxy: PacktivityProxyBase) -> Any:
        try:
            self.result(resultproxy)
        except Exception as error:
            return describe_failure(error)
        return None


class ForegroundProxy(PacktivityProxyBase):
    """The outcome of a step run in the foreground: result data or the failure message."""

    saveable = True

    def __init__(
        self,
        resultdata: Any,
        datamodel: Any,
        success: bool,
        details: Any = None,
        failure: Optional[str] = None,
    ) -> None:
        super().__init__(details=details)
        self.resultdata = resultdata
        self.datamodel = datamodel
        self.success = success
        self.failure = failure

    def proxyname(self) -> str:
        return "ForegroundProxy"

    def details(self) -> dict[str, Any]:
        details = dict(super().details() or {})
        details.update(resultdata=self.resultdata, datamodel=self.datamodel, success=self.success)
        if self.failure is not None:
            details["failure"] = self.failure
        return details

    @classmethod
    def fromJSON(cls, data: dict[str, Any]) -> ForegroundProxy:
        details = proxy_details(data, "ForegroundProxy", ("resultdata", "datamodel", "success"))
        return cls(
            details["resultdata"],
            details["datamodel"],
            details["success"],
            details,
            details.get("failure"),
        )


class ForegroundBackend(PythonCallableAsyncBackend):
    """Run the step at submission, in this process; the proxy holds the outcome.

    A failing step does not raise from ``submit``: its proxy is ready and not successful, and
    ``result`` raises :class:`StepFailed` with the message.
    """

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        super().__init__(config)
        self.datamodel = _datamodel

    def submit(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> ForegroundProxy:
        datamodel = state.datamodel if state else None
        try:
            result = run_packtivity(
                spec,
                parameters,
                state,
                metadata=metadata or {"name": "packtivity"},
                pack_config=self.pack_config,
                exec_config=self.exec_config,
            )
        except PacktivityError as error:
            if error.exit_code != StepFailed.exit_code:
                raise
            return ForegroundProxy(None, datamodel, success=False, failure=str(error))
        return ForegroundProxy(result.json(), datamodel, success=True)

    def result(self, resultproxy: ForegroundProxy) -> Any:
        if not resultproxy.success:
            raise StepFailed(resultproxy.failure or "the step failed")
        return self.datamodel.create(resultproxy.resultdata, resultproxy.datamodel)

    def ready(self, resultproxy: ForegroundProxy) -> bool:
        return True

    def successful(self, resultproxy: ForegroundProxy) -> bool:
        return bool(resultproxy.success)

    def fail_info(self, resultproxy: ForegroundProxy) -> Optional[str]:
        return None if resultproxy.success else resultproxy.failure


#: the original's names for the pool backends, now in :mod:`packtivity.pools`
_MOVED = {
    "CeleryBackend": "celery",
    "CeleryProxy": "celery",
    "IPythonParallelBackend": "ipcluster",
}


def __getattr__(name: str) -> Any:
    """``from packtivity.asyncbackends import CeleryBackend`` keeps working (imported on use:
    the pool libraries are optional)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import pools

    return getattr(pools.load(_MOVED[name]), name)
