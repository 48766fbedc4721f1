"""Where commands run and files live: one interface, a local and (later) an SSH implementation.

Everything that touches the machine a step runs on -- pulling images, writing job bodies,
reading run records -- goes through a :class:`Host`, so that it works the same on a login node
and from a laptop over SSH.  :func:`local_host` is the machine this process runs on.
"""

from __future__ import annotations

from .base import CommandResult, Host
from .local import LocalHost, local_host

__all__ = ["CommandResult", "Host", "LocalHost", "local_host"]
