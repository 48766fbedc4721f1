"""What the pool backends share: configuration, prepublishing, and the answers that follow
from ``status``."""

from __future__ import annotations

from typing import Any, Optional

from .. import datamodel as _datamodel
from ..asyncbackends import PythonCallableAsyncBackend
from ..protocol import Status


class PoolBackend(PythonCallableAsyncBackend):
    """Base of the pool backends: a subclass implements ``submit``, ``status``, ``result``
    and ``for_proxy``; ``ready``, ``successful`` and ``fail_info`` follow from ``status``."""

    saveable_proxies = True

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        super().__init__(config)
        self.datamodel = _datamodel

    def status(self, proxy: Any) -> Status:
        raise NotImplementedError

    def ready(self, proxy: Any) -> bool:
        return self.status(proxy).finished

    def successful(self, proxy: Any) -> bool:
        return self.status(proxy).succeeded

    def fail_info(self, proxy: Any) -> Optional[str]:
        status = self.status(proxy)
        return status.message if status.finished and not status.succeeded else None
