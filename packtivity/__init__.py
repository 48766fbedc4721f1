"""packtivity: packaged activities (spec + parameters + state -> result), HPC edition.

``pack_object(spec)(parameters, state, ...)`` runs one packtivity with a sync or async backend.
Heavy modules are imported on first use, so that ``import packtivity`` and the CLI start fast.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .protocol import State

__version__ = "1.0.0"


class pack_object:
    """A loaded packtivity spec, callable with parameters and a state."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    @classmethod
    def fromspec(cls, *args: Any, **kwargs: Any) -> pack_object:
        from .utils import load_packtivity

        return cls(load_packtivity(*args, **kwargs))

    def __call__(
        self,
        parameters: Any,
        state: Optional[State],
        syncbackend: Any = None,
        asyncbackend: Any = None,
        asyncwait: bool = False,
        waitperiod: float = 0.01,
        timeout: float = 43200,
        datamodel: Any = None,
        metadata: Optional[dict[str, Any]] = None,
    ) -> Any:
        """Run (sync) or submit (async) the packtivity.

        Sync: returns the result.  Async: returns the proxy, or with ``asyncwait`` polls
        ``ready`` (starting at ``waitperiod`` seconds, backing off to 1 s) and returns the
        result, raising the step's error if it failed and ``TimeoutError`` after ``timeout``.
        ``metadata`` (default ``{"name": "packtivity"}``; not in the original) names the step.
        """
        from . import datamodel as default_datamodel
        from .syncbackends import defaultsyncbackend

        datamodel = datamodel or default_datamodel
        parameters = datamodel.create(parameters, state.datamodel if state else None)
        if not asyncbackend:
            syncbackend = syncbackend or defaultsyncbackend()
            if metadata is None:  # a plugin's sync backend may not take metadata
                return syncbackend.run(self.spec, parameters, state)
            return syncbackend.run(self.spec, parameters, state, metadata)
        proxy = asyncbackend.submit(
            self.spec, parameters, state, metadata=metadata or {"name": "packtivity"}
        )
        if not asyncwait:
            return proxy
        return wait_for_result(asyncbackend, proxy, waitperiod, timeout)


def wait_for_result(
    backend: Any, proxy: Any, waitperiod: float = 0.01, timeout: Optional[float] = None
) -> Any:
    """Poll ``backend.ready(proxy)`` with back-off; return ``backend.result(proxy)``."""
    start = time.monotonic()
    delay = waitperiod
    while not backend.ready(proxy):
        if timeout is not None and time.monotonic() - start > timeout:
            raise TimeoutError(f"the packtivity did not finish within {timeout} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    return backend.result(proxy)
