"""Backends from strings, proxies from JSON.

``backend_from_string("multiproc:4")`` returns ``(is_sync, backend)``.  Built-in names:
``defaultsync``, ``foregroundasync``, ``multiproc:N|auto``, ``externalasync:default``,
``py:module:Class``, ``fromenv`` (``PACKTIVITY_ASYNCBACKEND=module:Backend:Proxy``).  Any other
name is looked up among the ``packtivity.backends`` entry points (the part before the first
``:``): an entry point is a factory ``(backendstring, backendopts) -> (is_sync, backend)``, so a
new backend is a new package and no change here.  ``PACKTIVITY_ASYNCBACKEND_OPTS`` names a YAML
file whose mapping is added to the backend options.

``load_proxy(jsondata)`` turns ``{"proxyname", "proxydetails"}`` back into a proxy (and, by
default, a backend that can answer for it).  Loaders are registered with ``@proxyloader(name)``
or as ``packtivity.proxies`` entry points named by the proxy name.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any, Callable, Optional

from . import pools
from .batch import SCHEDULERS
from .errors import BackendError, ProxyError
from .utils import handler_decorator

log = logging.getLogger(__name__)

BACKEND_ENTRY_POINTS = "packtivity.backends"
PROXY_ENTRY_POINTS = "packtivity.proxies"

proxyhandlers, proxyloader = handler_decorator()
backends, backend = handler_decorator()
is_sync, is_async = True, False


def _entry_points(group: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        found = entry_points(group=group)
    else:
        found = entry_points().get(group, [])
    return {ep.name: ep for ep in found}


def _import_attr(module: str, attr: str, what: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as error:
        raise BackendError(f"cannot load {what} '{module}:{attr}': {error}") from None


def _construct(module: str, name: str, options: dict[str, Any]) -> Any:
    """An instance of the backend class ``module:name``; :class:`BackendError` when that is no
    class, or its instances are no backend (they lack the protocol's methods)."""
    from .protocol import AsyncBackend

    backend_class = _import_attr(module, name, "backend class")
    if not isinstance(backend_class, type):
        raise BackendError(
            f"'{module}:{name}' is not a backend class (it is a {_kind(backend_class)})"
        )
    instance = backend_class(**options)
    if not isinstance(instance, AsyncBackend):
        raise BackendError(
            f"'{module}:{name}' is not a backend: it lacks the methods of "
            "packtivity.protocol.AsyncBackend (submit, ready, successful, result, ...)"
        )
    return instance


def _kind(value: Any) -> str:
    return "module" if isinstance(value, type(os)) else type(value).__name__


def _split_fromenv() -> list[str]:
    value = os.environ.get("PACKTIVITY_ASYNCBACKEND", "")
    parts = value.split(":")
    if len(parts) != 3 or not all(parts):
        raise BackendError(
            f"PACKTIVITY_ASYNCBACKEND must be 'module:BackendClass:ProxyClass', got '{value}'"
        )
    return parts


# ---- proxies -------------------------------------------------------------------------------


def _with_backend(
    proxy: Any,
    backendstring: str,
    best_effort_backend: bool,
    backendopts: Optional[dict[str, Any]] = None,
) -> Any:
    if not best_effort_backend:
        return proxy
    _, found = backend_from_string(backendstring, backendopts)
    return proxy, found


@proxyloader("ForegroundProxy")
def foreground_loader(
    jsondata: dict[str, Any], deserialization_opts: Any = None, best_effort_backend: bool = False
) -> Any:
    from .asyncbackends import ForegroundProxy

    return _with_backend(ForegroundProxy.fromJSON(jsondata), "foregroundasync", best_effort_backend)


@proxyloader("ExternalAsyncProxy")
def external_loader(
    jsondata: dict[str, Any], deserialization_opts: Any = None, best_effort_backend: bool = False
) -> Any:
    from .asyncbackends import ExternalAsyncProxy

    return _with_backend(
        ExternalAsyncProxy.fromJSON(jsondata), "externalasync:default", best_effort_backend
    )


@proxyloader("fromenv")
def fromenv_loader(
    jsondata: dict[str, Any], deserialization_opts: Any = None, best_effort_backend: bool = False
) -> Any:
    module, _, proxyclass = _split_fromenv()
    proxy = _import_attr(module, proxyclass, "proxy class").fromJSON(jsondata)
    return _with_backend(proxy, "fromenv", best_effort_backend)


@proxyloader("frompython")
def python_loader(
    jsondata: dict[str, Any], deserialization_opts: Any = None, best_effort_backend: bool = False
) -> Any:
    _, module, proxyclass = deserialization_opts["proxystring"].split(":")
    proxy = _import_attr(module, proxyclass, "proxy class").fromJSON(jsondata)
    if best_effort_backend:
        raise ProxyError(f"cannot tell which backend answers for proxy class {proxyclass}")
    return proxy


def _load_entry_point(entry: Any) -> Any:
    """What an installed entry point names; one line when its package is broken."""
    try:
        return entry.load()
    except Exception as error:  # a plugin's import can fail in any way
        raise BackendError(
            f"cannot load entry point '{entry.name} = {entry.value}' ({entry.group}): "
            f"{type(error).__name__}: {error}"
        ) from None


def _proxy_handler(name: str) -> Optional[Callable[..., Any]]:
    if name in proxyhandlers:
        return proxyhandlers[name]["default"]
    entry = _entry_points(PROXY_ENTRY_POINTS).get(name)
    return _load_entry_point(entry) if entry else None


def load_proxy(
    jsondata: Any,
    deserialization_opts: Optional[dict[str, Any]] = None,
    best_effort_backend: bool = True,
    raise_on_unknown: bool = False,
) -> Any:
    """Load a proxy from its JSON; with ``best_effort_backend`` return ``(proxy, backend)``.

    Raises :class:`ProxyError` for JSON that is not a proxy, and for in-memory proxies
    (``PacktivityProxyBase``) when a backend is asked for.  Without a backend request those
    load as None, as in the original (yadage snapshots of multiproc runs hold them).
    """
    log.debug("load_proxy opts %s", deserialization_opts)
    deserialization_opts = deserialization_opts or {}
    if (
        not isinstance(jsondata, dict)
        or "proxyname" not in jsondata
        or "proxydetails" not in jsondata
    ):
        raise ProxyError(
            "not a packtivity proxy: expected a JSON object with 'proxyname' and 'proxydetails'"
        )
    proxy, found_backend = None, None

    proxystring = deserialization_opts.get("proxy", "")
    if proxystring.startswith("py:"):
        proxy = proxyhandlers["frompython"]["default"](
            jsondata, {"proxystring": proxystring}, False
        )

    name = jsondata["proxyname"]
    if name == "PacktivityProxyBase":
        from .asyncbackends import UNSAVEABLE

        if best_effort_backend or raise_on_unknown:
            raise ProxyError(UNSAVEABLE.format(backend="multiproc or another in-memory"))
        log.warning(UNSAVEABLE.format(backend="in-memory"))
        return None

    if "PACKTIVITY_ASYNCBACKEND" in os.environ and name not in proxyhandlers:
        loaded = proxyhandlers["fromenv"]["default"](
            jsondata, deserialization_opts, best_effort_backend
        )
        proxy, found_backend = loaded if best_effort_backend else (loaded, None)
    else:
        handler = _proxy_handler(name)
        if handler is not None:
            loaded = handler(jsondata, deserialization_opts, best_effort_backend)
            proxy, found_backend = loaded if best_effort_backend else (loaded, None)

    if proxy is None and (raise_on_unknown or best_effort_backend):
        known = sorted(
            set(proxyhandlers) - {"fromenv", "frompython"} | set(_entry_points(PROXY_ENTRY_POINTS))
        )
        raise ProxyError(f"unknown proxy type '{name}'; known: {', '.join(known)}")
    if best_effort_backend:
        return proxy, found_backend
    return proxy


# ---- backends ------------------------------------------------------------------------------


@backend("foregroundasync")
def foregroundasync_backend(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
    from .asyncbackends import ForegroundBackend

    return is_async, ForegroundBackend(**backendopts)


@backend("multiproc")
def multiproc_backend(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
    from .asyncbackends import MultiProcBackend

    _, _, poolsize = backendstring.partition(":")
    if poolsize != "auto" and not (poolsize.isascii() and poolsize.isdigit() and int(poolsize)):
        raise BackendError(
            f"multiproc needs a pool size: 'multiproc:N' or 'multiproc:auto', got '{backendstring}'"
        )
    return is_async, MultiProcBackend(poolsize, **backendopts)


@backend("externalasync")
def externalasync_backend(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
    from .asyncbackends import DefaultExternalJobBackend, ExternalAsyncBackend

    _, _, external = backendstring.partition(":")
    if external not in ("", "default"):
        raise BackendError(f"unknown external job backend '{external}'; known: default")
    return is_async, ExternalAsyncBackend(job_backend=DefaultExternalJobBackend(), **backendopts)


@backend("py:")
def generic_python_backend(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
    parts = backendstring.split(":")
    if len(parts) != 3:
        raise BackendError(f"a Python backend is 'py:module:Class', got '{backendstring}'")
    return is_async, _construct(parts[1], parts[2], backendopts)


@backend("fromenv")
def fromshellenv_backend(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
    module, backendclass, _ = _split_fromenv()
    return is_async, _construct(module, backendclass, backendopts)


@backend("defaultsync")
def defaultsync_backend(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
    from .syncbackends import defaultsyncbackend

    return is_sync, defaultsyncbackend(**backendopts)


def _exactly(name: str, backendstring: str) -> None:
    if backendstring != name:
        raise BackendError(f"the {name} backend is just '{name}', not '{backendstring}'")


def _batch(scheduler: str) -> Callable[[str, dict[str, Any]], tuple[bool, Any]]:
    def factory(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
        from .batch.backend import BatchBackend

        _exactly(scheduler, backendstring)
        return is_async, BatchBackend(scheduler, **backendopts)

    return factory


for _scheduler in SCHEDULERS:
    backend(_scheduler)(_batch(_scheduler))


def _pool(pool: str, backend_class: str, proxy_class: str) -> None:
    """Register a worker pool's backend and proxy loader (imported on use: see
    :func:`packtivity.pools.load`)."""

    def factory(backendstring: str, backendopts: dict[str, Any]) -> tuple[bool, Any]:
        _exactly(pool, backendstring)
        return is_async, getattr(pools.load(pool), backend_class)(**backendopts)

    def loader(
        jsondata: dict[str, Any],
        deserialization_opts: Any = None,
        best_effort_backend: bool = False,
    ) -> Any:
        module = pools.load(pool)
        proxy = getattr(module, proxy_class).fromJSON(jsondata)
        if not best_effort_backend:
            return proxy
        return proxy, getattr(module, backend_class).for_proxy(proxy)

    backend(pool)(factory)
    proxyloader(proxy_class)(loader)


_pool("celery", "CeleryBackend", "CeleryProxy")
_pool("ipcluster", "IPythonParallelBackend", "IPClusterProxy")


@proxyloader("BatchProxy")
def batch_loader(
    jsondata: dict[str, Any], deserialization_opts: Any = None, best_effort_backend: bool = False
) -> Any:
    from .batch.backend import BatchProxy

    proxy = BatchProxy.fromJSON(jsondata)
    ssh = proxy.details().get("ssh")  # the cluster it was submitted to from a laptop
    return _with_backend(
        proxy, proxy.details()["backend"], best_effort_backend, {"ssh": ssh} if ssh else None
    )


BACKEND_FORMS = {
    "defaultsync": "defaultsync",
    "foregroundasync": "foregroundasync",
    "multiproc": "multiproc:N|auto",
    "externalasync": "externalasync:default",
    "py:": "py:module:Class",
    "fromenv": "fromenv",
}


def known_backends() -> list[str]:
    """The backend names this installation understands (built-in and entry points)."""
    return [BACKEND_FORMS.get(k, k) for k in backends] + sorted(_entry_points(BACKEND_ENTRY_POINTS))


def _options_from_env() -> dict[str, Any]:
    path = os.environ.get("PACKTIVITY_ASYNCBACKEND_OPTS")
    if not path:
        return {}
    from . import userfiles

    options = userfiles.read_yaml(path, "PACKTIVITY_ASYNCBACKEND_OPTS file", BackendError)
    log.info("overriding using envvar opts %s", options)
    return options


def backend_from_string(
    backendstring: str, backendopts: Optional[dict[str, Any]] = None
) -> tuple[bool, Any]:
    """Create a backend from its name; returns ``(is_sync, backend)``.

    Raises :class:`BackendError` (one line, listing the known names) for an unknown name.
    """
    options = dict(backendopts or {})
    options.update(_options_from_env())
    if not isinstance(options.get("config", {}), dict):
        raise BackendError(
            "backend option 'config' must be a mapping like {exec: {containers: {...}}}, not "
            f"{options['config']!r:.60}"
        )
    name = backendstring.split(":", 1)[0]
    factory: Optional[Callable[..., tuple[bool, Any]]] = None
    for prefix in backends:
        if (prefix == "py:" and backendstring.startswith("py:")) or (
            prefix != "py:" and name == prefix
        ):
            factory = backends[prefix]["default"]
            break
    if factory is None:
        entry = _entry_points(BACKEND_ENTRY_POINTS).get(name)
        factory = _load_entry_point(entry) if entry is not None else None
    if factory is not None:
        try:
            return factory(backendstring, options)
        except TypeError as error:
            if "unexpected keyword argument" not in str(error):
                raise
            raise BackendError(
                f"backend '{backendstring}' does not take the options given ({error}); "
                "backend options are a mapping like {config: {exec: {containers: {...}}}}"
            ) from None
    raise BackendError(
        f"unknown backend '{backendstring}'; known backends: {', '.join(known_backends())}"
    )
