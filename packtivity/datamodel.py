"""``create(data, model)``: wrap JSON data in the configured data model.

``PACKTIVITY_DATAMODEL_IMPL`` picks the implementation: ``typedleafs`` (default) or ``purejson``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from .datamodels.purejson import PureJsonModel
from .errors import BadInput
from .typedleafs import TypedLeafs

__all__ = ["PureJsonModel", "TypedLeafs", "create"]


def create(data: Any, model: Optional[dict[str, Any]] = None) -> Any:
    implementation = os.environ.get("PACKTIVITY_DATAMODEL_IMPL", "typedleafs")
    if implementation == "typedleafs":
        return TypedLeafs(data, model)
    if implementation == "purejson":
        return PureJsonModel(data, model)
    raise BadInput(
        f"unknown PACKTIVITY_DATAMODEL_IMPL '{implementation}'; known: typedleafs, purejson"
    )
