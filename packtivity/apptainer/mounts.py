"""What a container sees of the host: binds, environment variables, working directory, GPUs.

From the state (read-write directories bound read-write at the same path, read-only ones
read-only), the environment spec (``par_mounts``, ``resources``, ``env``, ``workdir``) and the
container settings.  Files that binds need (``par_mounts`` content) are returned, not written:
the caller writes them on the host that runs the job.  Read-only directories that do not exist
are left out.
"""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ..errors import ContainerRuntimeError, SpecError, StateError
from ..hosts import Host
from ..utils import secho
from .settings import container_config

if TYPE_CHECKING:
    from ..protocol import State

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Bind:
    source: str  #: path on the host
    target: str  #: path in the container
    readonly: bool

    def option(self) -> str:
        """The ``--bind`` value; Apptainer splits binds on ``,`` and ``:``, so paths with
        those cannot be bound and are a :class:`StateError`."""
        for path in (self.source, self.target):
            if "," in path or ":" in path:
                raise StateError(f"cannot bind {path!r} into a container: it contains ',' or ':'")
        return f"{self.source}:{self.target}:{'ro' if self.readonly else 'rw'}"


@dataclass(frozen=True)
class ContainerSetup:
    binds: list[Bind]
    env: dict[str, str]  #: variables set in the container
    pwd: Optional[str]  #: working directory in the container
    gpu: bool  #: GPUs requested (``--nv``)
    files: dict[str, str] = field(default_factory=dict)  #: path -> content, to write first


def _resources(environment: dict[str, Any]) -> list[Any]:
    return list(environment.get("resources") or [])


def auth_resources(environment: dict[str, Any]) -> list[str]:
    """The credential resources asked for: GRIDProxy, KRB5Auth, ``{kerberos: true}`` (shown as
    ``kerberos``); any of them binds the auth location, as in the original."""
    resources = _resources(environment)
    asked = [name for name in ("GRIDProxy", "KRB5Auth") if name in resources]
    if {"kerberos": True} in resources:
        asked.append("kerberos")
    return asked


def wants_cvmfs(environment: dict[str, Any]) -> bool:
    return "CVMFS" in _resources(environment)


def wants_gpu(environment: dict[str, Any]) -> bool:
    """``GPU`` (any case) or ``{gpu: N}`` / ``{gpus: N}`` with N > 0 among the resources."""
    for resource in _resources(environment):
        if isinstance(resource, str) and resource.lower() in ("gpu", "gpus"):
            return True
        if isinstance(resource, dict):
            for key in ("gpu", "gpus", "GPU"):
                if resource.get(key):
                    return True
    return False


def plan_container(
    settings: container_config,
    environment: dict[str, Any],
    state: Optional[State],
    metadir: str,
    step: str,
    host: Host,
    log: logging.Logger,
) -> ContainerSetup:
    """The binds, variables and working directory of one step's container on ``host``."""
    binds: list[Bind] = []
    files: dict[str, str] = {}
    env: dict[str, str] = {}
    # the state's paths were resolved on its host (statecontexts): bound as they are
    readwrite = list(state.readwrite if state else [])
    readonly = list(state.readonly if state else [])
    for directory in readwrite:
        binds.append(Bind(directory, directory, readonly=False))
    for directory in readonly:
        # workflow engines list the directories of earlier stages that wrote nothing (yadage's
        # init): nothing to read there, and Apptainer cannot bind a missing path
        if not host.exists(directory):
            log.info("read-only directory %s does not exist: not bound", directory)
            continue
        binds.append(Bind(directory, directory, readonly=True))

    for index, mount in enumerate(environment.get("par_mounts") or []):
        path = posixpath.join(metadir, f"{step}.parmount{index}.txt")
        files[path] = str(mount["mountcontent"])
        binds.append(Bind(path, str(mount["mountpath"]), readonly=True))

    if wants_cvmfs(environment):
        location = settings.cvmfs_location()
        if host.exists(location):
            binds.append(Bind(location, "/cvmfs", readonly=True))
        else:
            message = (
                f"step '{step}' asked for CVMFS but {location} does not exist on {host.name}: it "
                "runs without /cvmfs (mount CVMFS there, or set PACKTIVITY_CVMFS_LOCATION)"
            )
            log.warning(message)
            secho(f"warning: {message}", fg="yellow", err=True)  # not only in the log
    credentials = auth_resources(environment)
    if credentials:
        location, target = settings.auth_location(), settings.auth_targetdir()
        if not host.exists(location):
            raise ContainerRuntimeError(
                f"step '{step}' asks for {' and '.join(credentials)} credentials, which are "
                f"bound from the auth location {location}, and that does not exist on "
                f"{host.name}: put the credentials there (a grid proxy, getkrb.sh) or set "
                "PACKTIVITY_AUTH_LOCATION"
            )
        binds.append(Bind(location, target, readonly=False))
        env["KRB_SETUP_SCRIPT"] = posixpath.join(target, "getkrb.sh")
    proxy = settings.x509_user_proxy(host)
    if proxy:
        env["X509_USER_PROXY"] = proxy
        if host.exists(proxy) and not any(_within(proxy, b.source) for b in binds):
            binds.append(Bind(proxy, proxy, readonly=True))

    for name, value in (environment.get("env") or {}).items():
        if not _ENV_NAME.fullmatch(str(name)):
            raise SpecError(f"environment variable name {name!r} in the spec's env is not valid")
        env[str(name)] = str(value)

    pwd = environment.get("workdir") or (readwrite[0] if readwrite else None)
    return ContainerSetup(binds=binds, env=env, pwd=pwd, gpu=wants_gpu(environment), files=files)


def _within(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it (both absolute paths on the step's host)."""
    return posixpath.commonpath([posixpath.normpath(path), directory]) == directory
