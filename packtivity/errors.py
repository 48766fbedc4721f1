"""The errors packtivity raises on purpose, and the exit code each one maps to.

Contract: every problem that is the user's input (spec, parameters, state, proxy, backend name,
SSH target) is a :class:`BadInput` (exit 2); a step that ran and failed is a :class:`StepFailed`
(exit 1); a host, scheduler, broker or container runtime that cannot be reached or used is an
:class:`InfrastructureError` (exit 3); Ctrl-C is exit 130.  The CLI prints ``str(error)`` as one
line and exits with ``error.exit_code``; any other exception is a bug and keeps its traceback.

Callers of the original packtivity catch what it raised, so each error here is also an instance
of the original's exception for the same case: every one is a ``RuntimeError`` (a failed step, an
unknown backend or proxy, a container that cannot run), a :class:`StateError` is also a
``TypeError`` (the original's unknown state type), a :class:`ParameterError` also a ``KeyError``
(a template naming a missing parameter), and an invalid spec is also a
``jsonschema.ValidationError`` (:class:`packtivity.spec_invalid.SpecInvalid`).

All errors pickle cleanly (they cross process boundaries in the multiproc backend).
"""

from __future__ import annotations

from typing import Any, Optional


class PacktivityError(RuntimeError):
    """Base class: a problem packtivity can explain in one line (a ``RuntimeError``, as the
    original raised for nearly everything)."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message,), self.__dict__)


class BadInput(PacktivityError):
    """The user's input is wrong; nothing was run."""

    exit_code = 2


class SpecError(BadInput):
    """A packtivity spec could not be loaded or is not valid."""


class SpecContentError(SpecError):
    """A spec that was read and is not a valid packtivity: not YAML, not a mapping, or not
    matching the schema (``packtivity-validate`` answers this with exit 1, not 2)."""


class ParameterError(BadInput, KeyError):
    """Parameters are malformed or a template refers to a missing one (the original's
    ``str.format`` raised ``KeyError``)."""


class StateError(BadInput, TypeError):
    """A state description is malformed (the original raised ``TypeError``)."""


class JqError(BadInput, ValueError):
    """A jq script of the spec (a publisher's ``script``, a ``par_mounts`` entry's
    ``jqscript``) does not compile or fails on the parameters (the original let jq's
    ``ValueError`` through)."""


class BackendError(BadInput):
    """An unknown backend name or bad backend options."""


class ProxyError(BadInput):
    """A proxy file or proxy JSON that cannot be loaded."""


class StepFailed(PacktivityError):
    """A step ran and failed.

    ``returncode`` is the exit code of the step's command when there was one, ``log_tail`` the
    last lines of its output (already part of the message).
    """

    exit_code = 1

    def __init__(self, message: str, returncode: Optional[int] = None, log_tail: str = "") -> None:
        if log_tail:
            message = f"{message}\n--- last lines of the step's output ---\n{log_tail}"
        super().__init__(message)
        self.returncode = returncode
        self.log_tail = log_tail

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.__class__, self.__dict__))


def _rebuild(cls: type[PacktivityError], state: dict[str, Any]) -> PacktivityError:
    error = Exception.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class InfrastructureError(PacktivityError):
    """The machinery around a step failed, not the step and not the input: a host, scheduler,
    broker or container runtime could not be reached or used.  Exit 3: the step may not have
    run; trying again later, or on a machine that has what is missing, may work."""

    exit_code = 3


class HostUnreachable(InfrastructureError):
    """A host or service cannot be reached, or the connection to it was lost (may be temporary):
    an SSH host, a Celery broker, an IPython Parallel controller.  Waiting asks again later."""


class ContainerRuntimeError(InfrastructureError):
    """No usable container runtime, or an image that cannot be had."""


class StorageError(InfrastructureError):
    """A file could not be written: the disk or quota is full, the file system is read-only
    or failing.  Nothing was half-written (user files are written atomically)."""


#: errno values that mean "the storage failed", not "the input is wrong"
STORAGE_ERRNOS = frozenset(
    getattr(__import__("errno"), name)
    for name in ("ENOSPC", "EDQUOT", "EROFS", "EIO", "EFBIG")
    if hasattr(__import__("errno"), name)
)


def storage_error(error: OSError) -> StorageError:
    """One line for a failed write: the file and what happened."""
    where = f" {error.filename}" if error.filename else ""
    return StorageError(f"cannot write{where}: {error.strerror or error}")
