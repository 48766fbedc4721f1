"""Worker pools that run packtivities sent to them as JSON: Celery and IPython Parallel.

Both backends send the same JSON task (:mod:`.task`): spec, parameters, state, metadata and the
backend's configuration.  A worker rebuilds the step from it, runs it in its own process (on a
machine that sees the same storage) and returns the published result as JSON.  Nothing is
pickled, so a proxy can be checked from any process, and workers need only packtivity installed.

The pool libraries are optional (``pip install 'packtivity[celery]'`` or
``'packtivity[ipcluster]'``); :func:`load` turns a missing one into one line.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import BackendError

#: the libraries each pool module needs (the extra of the same name installs them)
NEEDS = {"celery": ("celery", "redis"), "ipcluster": ("ipyparallel",)}


def load(pool: str) -> ModuleType:
    """``packtivity.pools.<pool>``, or :class:`BackendError` naming the extra to install."""
    for library in NEEDS[pool]:
        try:
            importlib.import_module(library)
        except ImportError as error:
            raise BackendError(
                f"-b {pool} needs {library}: pip install 'packtivity[{pool}]' ({error})"
            ) from None
    return importlib.import_module(f"{__name__}.{pool}")
