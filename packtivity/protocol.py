"""What a packtivity backend is, in code: the methods every backend has, the optional ones
packtivity asks for when they are there, and the :class:`Status` they report.

``docs/backends.md`` walks through writing one.  Checks use ``isinstance`` against the
``runtime_checkable`` protocols below, never ``hasattr`` probing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .hosts import Host


@runtime_checkable
class State(Protocol):
    """A step's state: where it reads and writes (``LocalFSState``, or a plugin's from
    ``load_state``).  What every state has, as the original's ``LocalFSState`` had it."""

    datamodel: Any  #: the data model parameters are wrapped in (None: the default)

    @property
    def readwrite(self) -> list[str]: ...

    @property
    def readonly(self) -> list[str]: ...

    @property
    def metadir(self) -> Optional[str]:
        """Where logs and run records go (``<first readwrite>/_packtivity``), or None."""
        ...

    def identifier(self) -> str: ...

    def ensure(self) -> None:
        """Create the read-write directories."""
        ...

    def model(self, data: Any) -> Any:
        """``data`` with ``{workdir}`` and the other directory names filled in."""
        ...

    def contextualize_value(self, value: Any) -> Any:
        """One value with the directory names filled in (a string; others pass unchanged)."""
        ...

    def json(self) -> dict[str, Any]: ...


@runtime_checkable
class HostedState(State, Protocol):
    """Optional, of a state: its directories are on a :class:`~packtivity.hosts.Host`, and it
    can be moved to another (the batch backends need this over SSH)."""

    host: Host

    def on_host(self, host: Host) -> HostedState:
        """This state with its given paths resolved on ``host``."""
        ...


class Proxy(Protocol):
    """A submitted step's handle: its JSON is what ``--async`` saves and ``load_proxy``
    reads back."""

    def json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Status:
    """Where a submitted step stands."""

    state: str  #: pending, running, succeeded, failed, cancelled, timeout, ..., unknown
    finished: bool
    succeeded: bool
    message: str = ""  #: why it failed, or (before it ends) what it waits for
    exit_code: Optional[int] = None


class SyncBackend(Protocol):
    """Runs a step to completion where it is called (``defaultsyncbackend``)."""

    def run(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> Any: ...

    def prepublish(self, spec: Any, parameters: Any, state: Optional[State]) -> Any: ...


@runtime_checkable
class AsyncBackend(Protocol):
    """Submits a step and answers about it through its proxy (required methods)."""

    def submit(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> Any:
        """Start the step; return its proxy at once."""
        ...

    def ready(self, proxy: Proxy) -> bool:
        """The step has ended, successfully or not."""
        ...

    def successful(self, proxy: Proxy) -> bool:
        """It ended and succeeded (False while running)."""
        ...

    def result(self, proxy: Proxy) -> Any:
        """The published result; raises when the step failed."""
        ...

    def fail_info(self, proxy: Proxy) -> Any:
        """Why it failed, for people."""
        ...

    def prepublish(self, spec: Any, parameters: Any, state: Optional[State]) -> Any:
        """The result before the step runs, or None."""
        ...


@runtime_checkable
class ReportsStatus(Protocol):
    """Optional: says more than ready/successful (queued or running, why it failed)."""

    def status(self, proxy: Proxy) -> Status: ...


@runtime_checkable
class ReportsUsage(Protocol):
    """Optional: what its steps' jobs asked for and used, as the scheduler accounts it
    (``{native id: {"asked_memory", "asked_time", "max_rss"}}``), for reports."""

    def usage(self, proxies: list[Proxy]) -> dict[str, dict[str, str]]: ...


@runtime_checkable
class Cancels(Protocol):
    """Optional: ``packtivity-checkproxy --cancel``."""

    def cancel(self, proxy: Proxy) -> None: ...


@runtime_checkable
class Configured(Protocol):
    """Optional: built from packtivity's configuration (``config: {exec: ..., ...}``); the
    configuration is used to check a step's inputs before it runs."""

    pack_config: Any
    exec_config: Any


@runtime_checkable
class RunsOnHost(Protocol):
    """Optional: runs steps on a :class:`~packtivity.hosts.Host` (the batch backends, also over
    SSH): the state's directories are that host's."""

    host: Host


@runtime_checkable
class SavesProxies(Protocol):
    """Optional: says whether its proxies may be written to a file and checked from another
    process (``--async``); a backend without it is taken to say yes."""

    saveable_proxies: bool


@runtime_checkable
class ShowsScript(Protocol):
    """Optional: ``--show-script`` and dry runs: what would be submitted, submitting nothing."""

    def show_script(
        self,
        spec: Any,
        parameters: Any,
        state: Optional[State],
        metadata: Optional[dict[str, Any]] = None,
    ) -> str: ...


@runtime_checkable
class Watches(Protocol):
    """Optional: answers about many steps with one query (a batch queue).  Told of every step
    before the first question, so that one query covers them all; says how long to wait
    between questions."""

    def watch(self, proxy: Proxy) -> None: ...

    def poll_interval(self) -> float: ...


@runtime_checkable
class Describes(Protocol):
    """Optional, of a proxy: a name for people ("slurm job 123 (step 'fit')")."""

    def describe(self) -> str: ...


@runtime_checkable
class Saveable(Protocol):
    """Optional, of a proxy: whether its JSON can be written and checked from another
    process; a proxy without it is taken to say no."""

    saveable: bool


def describe(proxy: Proxy) -> str:
    """A proxy's name for people."""
    return proxy.describe() if isinstance(proxy, Describes) else "the step"


def saveable(proxy: Proxy) -> bool:
    """Whether a proxy can be written to a file and checked later."""
    return bool(proxy.saveable) if isinstance(proxy, Saveable) else False


def status_from_answers(backend: AsyncBackend, proxy: Proxy) -> Status:
    """The :class:`Status` of a backend that only has the required methods."""
    if not backend.ready(proxy):
        return Status("running", False, False)
    if backend.successful(proxy):
        return Status("succeeded", True, True)
    return Status("failed", True, False, str(backend.fail_info(proxy) or ""))


def status_of(backend: AsyncBackend, proxy: Proxy) -> Status:
    """The status of any backend's proxy: its own ``status`` where it has one."""
    if isinstance(backend, ReportsStatus):
        return backend.status(proxy)
    return status_from_answers(backend, proxy)
