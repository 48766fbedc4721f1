"""Per-step logging: ``<workdir>/_packtivity/<name>.<topic>.log`` plus a terminal stream.

Topics used here: ``step`` (what packtivity does for the step) and ``run`` (the output of the
step's command).  ``PACKTIVITY_LOGGING_DISABLE``, ``PACKTIVITY_LOGGING_HANDLER=module:func`` and
``PACKTIVITY_LOGGING_STREAM_LEVEL`` work as in the original.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import posixpath
from typing import TYPE_CHECKING, Any, Iterator, Optional

from .protocol import HostedState

if TYPE_CHECKING:
    from .protocol import State

LOGFORMAT = "%(asctime)s | %(name)20.20s | %(levelname)6s | %(message)s"
formatter = logging.Formatter(LOGFORMAT)
#: how deeply each topic logger is set up right now (nested set-ups reuse the outer handlers)
_open_topics: dict[str, int] = {}


def get_base_loggername(metadata: dict[str, Any]) -> str:
    return "pack.{}".format(metadata["name"])


def get_topic_loggername(metadata: dict[str, Any], topic: str) -> str:
    return "pack.{}.{}".format(metadata["name"], topic)


def topic_logfile(state: Optional[State], metadata: dict[str, Any], topic: str) -> Optional[str]:
    """The log file of a topic, or None when the state has no meta directory."""
    metadir = state.metadir if state else None
    if not metadir:
        return None
    return posixpath.join(metadir, "{}.{}.log".format(metadata["name"], topic))


def default_logging_handlers(
    exec_config: Any,
    log: logging.Logger,
    metadata: dict[str, Any],
    state: Optional[State],
    topic: str,
) -> None:
    if topic == "step":
        stream = logging.StreamHandler()
        stream.setLevel(getattr(logging, exec_config.stream_loglevel()))
        stream.setFormatter(formatter)
        log.addHandler(stream)
    logfile = topic_logfile(state, metadata, topic)
    if logfile:
        filehandler = file_handler(logfile, state.host if isinstance(state, HostedState) else None)
        filehandler.setLevel(logging.DEBUG)
        filehandler.setFormatter(formatter)
        log.addHandler(filehandler)


class HostFileHandler(logging.Handler):
    """Appends each record to a log file on a host (one append per record; over SSH, one SFTP
    append).  A record that cannot be written (a full disk) is dropped, after one warning on
    stderr: a lost log line must not fail the step, nor print a traceback."""

    warned = False

    def __init__(self, path: str, host: Any) -> None:
        super().__init__()
        self.path = path
        self.host = host

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.host.append_text(self.path, self.format(record) + "\n")
        except Exception as error:  # noqa: BLE001 - a lost log line must not fail the step
            if not HostFileHandler.warned:
                HostFileHandler.warned = True
                import sys

                print(f"warning: log {self.path} not written: {error}", file=sys.stderr)


def file_handler(logfile: str, host: Any = None) -> logging.Handler:
    """A handler writing to ``logfile`` on ``host`` (default: this machine)."""
    from .hosts import local_host

    host = host or local_host()
    host.make_dirs(posixpath.dirname(logfile))
    return HostFileHandler(logfile, host)


def check_custom_handler(exec_config: Any) -> None:
    """:class:`~packtivity.errors.BadInput` when ``PACKTIVITY_LOGGING_HANDLER`` names no
    function (checked before a step runs)."""
    custom = exec_config.custom_logging_handler()
    if custom:
        _custom_handler(custom)


def _custom_handler(custom: str) -> Any:
    module, func = custom.split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as error:
        from .errors import BadInput

        raise BadInput(f"PACKTIVITY_LOGGING_HANDLER {custom}: {error}") from None


@contextlib.contextmanager
def setup_logging_topic(
    exec_config: Any,
    metadata: dict[str, Any],
    state: Optional[State],
    topic: str,
    return_logger: bool = False,
) -> Iterator[Optional[logging.Logger]]:
    """Give the topic's logger its handlers for the duration of the context, then close them."""
    name = get_topic_loggername(metadata, topic)
    log = logging.getLogger(name)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    added = []
    outermost = _open_topics.get(name, 0) == 0
    _open_topics[name] = _open_topics.get(name, 0) + 1
    if outermost and not exec_config.disable_logging():
        before = list(log.handlers)
        custom = exec_config.custom_logging_handler()
        if custom:
            _custom_handler(custom)(log, metadata, state, topic)
        else:
            default_logging_handlers(exec_config, log, metadata, state, topic)
        added = [h for h in log.handlers if h not in before]
    try:
        yield log if return_logger else None
    finally:
        _open_topics[name] -= 1
        for handler in added:
            handler.close()
            log.removeHandler(handler)
