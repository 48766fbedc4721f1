"""What a batch job asks for, from three sources -- later wins:

1. the config file (``PACKTIVITY_CONFIG``, default :func:`default_config_path`): its
   top-level resource names, then those of the chosen profile (``--profile`` /
   ``PACKTIVITY_PROFILE`` / the file's ``default_profile``).  ``ssh`` there names the cluster
   to submit to from a laptop (see :func:`ssh_from_config_file`)::

       queue: debug
       profiles:
         atlas: {account: atlas-prj, queue: long, walltime: "12:00:00"}
         from-laptop: {ssh: mycluster, queue: short}

2. the spec environment's ``resources`` entries (``{cpus: 4}``, REANA's ``{slurm_partition:
   x}``, ``{slurm_time: "60"}`` and ``{kubernetes_memory_limit: 4Gi}``; see :func:`from_spec`);
3. CLI flags ``--cpus --memory --walltime --gpus --queue --account --reservation
   --scheduler-option NAME=VALUE`` (yadage's ``-k`` options use the same names).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, Optional

from .. import userfiles
from ..errors import BackendError, SpecError

log = logging.getLogger(__name__)

#: spec resources that concern the container, not the scheduler (see apptainer.mounts)
CONTAINER_RESOURCES = ("CVMFS", "GRIDProxy", "KRB5Auth", "GPU", "kerberos", "gpu")


def default_config_path() -> str:
    """The user's config file: ``$XDG_CONFIG_HOME/packtivity/config.yml`` (default
    ``~/.config/...`` on Linux; ``~/Library/Application Support/packtivity`` on macOS)."""
    import platformdirs

    return os.path.join(platformdirs.user_config_dir("packtivity"), "config.yml")


MAX_MEMORY = float(1024**6)  #: 1 EiB: a larger request is a typo, not a machine
_MEMORY = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$")


def size_bytes(text: str) -> Optional[float]:
    """``512M``, ``4G``, ``4GiB``, ``464K``, ``1.50M`` (units of 1024) as bytes; None when
    ``text`` is not a size."""
    match = _MEMORY.match(text)
    if not match:
        return None
    return float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")


@dataclass(frozen=True)
class Resources:
    cpus: Optional[int] = None
    memory: Optional[str] = None  #: "4G", "512M", bytes as a number
    walltime: Optional[str] = None  #: "hh:mm:ss", "hh:mm", minutes, "90m", "2h"
    gpus: Optional[int] = None
    queue: Optional[str] = None
    account: Optional[str] = None
    reservation: Optional[str] = None
    #: scheduler flags PSI/J has no attribute for: ``{"constraint": "haswell"}``
    scheduler_options: dict[str, str] = field(default_factory=dict)

    def merged(self, values: dict[str, Any], source: str) -> Resources:
        """These resources with ``values`` (resource names) on top; unknown names are errors."""
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            if name not in NAMES:
                raise BackendError(
                    f"unknown resource '{name}' in {source}; known: {', '.join(sorted(NAMES))}"
                )
            target = NAMES[name]
            if target == "scheduler_options":
                changes[target] = {**self.scheduler_options, **_options(value, source)}
            elif target in ("cpus", "gpus"):
                changes[target] = _positive_int(value, name, source)
            else:
                changes[target] = str(value)
        merged = replace(self, **changes)
        merged.duration()  # reject a bad walltime where it was given
        merged.memory_bytes()
        return merged

    def duration(self) -> Optional[timedelta]:
        if self.walltime is None:
            return None
        from psij import JobAttributes

        try:
            return JobAttributes.parse_walltime(self.walltime)
        except (ValueError, OverflowError):
            raise BackendError(
                f"walltime '{self.walltime}' is not hh:mm:ss, hh:mm, minutes, or like 90m / 2h"
            ) from None

    def memory_bytes(self) -> Optional[int]:
        if self.memory is None:
            return None
        size = size_bytes(self.memory)
        if size is None:
            raise BackendError(f"memory '{self.memory}' is not like 512M, 4G or 4GiB")
        if not size < MAX_MEMORY:
            raise BackendError(f"memory '{self.memory}' is more than any machine has (1 EiB)")
        return int(size)

    def describe(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name)]
        return ", ".join(parts) or "scheduler defaults"


#: the resources a backend option and a ``packtivity-run`` flag set, by the same names (a new
#: resource is a field of :class:`Resources`, its click option, and its PSI/J mapping)
RESOURCE_FLAGS = tuple(f.name for f in fields(Resources) if f.name != "scheduler_options")
#: resource names and the field each one sets (REANA's Slurm names included)
NAMES = {
    **{f.name: f.name for f in fields(Resources)},
    "slurm_partition": "queue",
    "slurm_time": "walltime",
}


def _positive_int(value: Any, name: str, source: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 2**31 - 1 or str(value).strip() != str(number):
        raise BackendError(
            f"resource '{name}' in {source} must be a positive integer (at most 2147483647), "
            f"got {value!r:.40}"
        )
    return number


def _options(value: Any, source: str) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    items = [value] if isinstance(value, str) else list(value or [])
    options = {}
    for item in items:
        name, sep, setting = str(item).partition("=")
        if not sep or not name:
            raise BackendError(f"scheduler option '{item}' in {source} is not NAME=VALUE")
        options[name.lstrip("-")] = setting
    return options


def _config_layers(profile: Optional[str]) -> list[tuple[dict[str, Any], str]]:
    """The config file's top-level settings and the chosen profile's, each with its source;
    none when the file does not exist (and no profile was asked for)."""
    path = os.path.expanduser(os.environ.get("PACKTIVITY_CONFIG") or default_config_path())
    profile = profile or os.environ.get("PACKTIVITY_PROFILE")
    if not os.path.lexists(path):
        if profile:
            raise BackendError(f"profile '{profile}' asked for, but there is no {path}")
        return []
    data = userfiles.read_yaml(path, "config file", BackendError)
    profiles = data.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise BackendError(f"'profiles' in config file {path} must map names to settings")
    default_profile = data.pop("default_profile", None)
    if default_profile is not None and not isinstance(default_profile, str):
        raise BackendError(f"'default_profile' in config file {path} must be a profile's name")
    layers = [(data, f"config file {path}")]
    chosen = profile or default_profile
    if chosen:
        if chosen not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise BackendError(f"no profile '{chosen}' in {path}; profiles: {known}")
        if not isinstance(profiles[chosen] or {}, dict):
            raise BackendError(f"profile '{chosen}' of {path} must be a mapping")
        layers.append((dict(profiles[chosen] or {}), f"profile '{chosen}' of {path}"))
    return layers


#: config file settings that are not resources: the SSH target and how often to ask
NOT_RESOURCES = (
    "ssh",
    "ssh_transport",
    "poll_interval_min",
    "poll_interval_max",
    "record_interval",
    "record_grace",
    "queue_size",
    "submit_rate_limit",
    "retries",
    "retry_on",
    "retry_grow",
)


def from_config_file(profile: Optional[str] = None) -> Resources:
    """Resources from the config file (none when it does not exist), with a profile applied."""
    resources = Resources()
    for values, source in _config_layers(profile):
        values = {name: value for name, value in values.items() if name not in NOT_RESOURCES}
        resources = resources.merged(values, source)
    return resources


def poll_settings_from_config_file(profile: Optional[str] = None) -> Any:
    """The config file's ``poll_interval_min``, ``poll_interval_max``, ``record_interval`` and
    ``record_grace`` (seconds; the profile wins), with the defaults for what it does not set."""
    from .poller import PollSettings

    given: dict[str, float] = {}
    for values, source in _config_layers(profile):
        for name in ("poll_interval_min", "poll_interval_max", "record_interval", "record_grace"):
            if values.get(name) is None:
                continue
            value = values[name]
            least = 0.0 if name == "record_grace" else 0.1
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (least <= value <= 3600)
            ):
                raise BackendError(f"{name} in {source} must be seconds from {least:g} to 3600")
            given[name.removeprefix("poll_")] = float(value)
    settings = PollSettings(**given)
    if settings.interval_min > settings.interval_max:
        raise BackendError("poll_interval_min is more than poll_interval_max in the config file")
    return settings


def submit_limits(profile: Optional[str], options: dict[str, Any], scheduler: str) -> Any:
    """``queue_size`` and ``submit_rate_limit`` from the config file, its profile, then the
    backend's options (yadage's ``-k``, ``packtivity-run``'s flags); later wins."""
    from .throttle import SubmitLimits, parse_queue_size, parse_rate

    limits = SubmitLimits()
    layers = [*_config_layers(profile), (options, f"the options of -b {scheduler}")]
    for values, source in layers:
        if values.get("queue_size") is not None:
            limits = replace(limits, queue_size=parse_queue_size(values["queue_size"], source))
        if values.get("submit_rate_limit") is not None:
            limits = replace(limits, rate=parse_rate(values["submit_rate_limit"], source))
    return limits


def retry_policy(profile: Optional[str], options: dict[str, Any], scheduler: str) -> Any:
    """``retries``, ``retry_on`` and ``retry_grow`` from the config file, its profile, then
    the backend's options; later wins (:mod:`.retry`)."""
    from .retry import RetryPolicy, parse

    policy = RetryPolicy()
    for values, source in [*_config_layers(profile), (options, f"the options of -b {scheduler}")]:
        policy = parse(policy, values, source)
    return policy


def ssh_from_config_file(profile: Optional[str] = None) -> Optional[str]:
    """The ``ssh: [user@]host[:port]`` of the config file or its profile (the profile wins)."""
    target = None
    for values, source in _config_layers(profile):
        if values.get("ssh") is not None:
            if not isinstance(values["ssh"], str) or not values["ssh"].strip():
                raise BackendError(f"ssh in {source} must be a target like user@host:port")
            target = values["ssh"]
    return target


def ssh_transport_from_config_file(profile: Optional[str] = None) -> str:
    """How to reach the ``ssh`` target: ``PACKTIVITY_SSH_TRANSPORT``, else the config file's
    ``ssh_transport`` (the profile wins), else ``paramiko``."""
    from ..hosts import TRANSPORTS

    chosen, source = "paramiko", "the default"
    for values, where in _config_layers(profile):
        if values.get("ssh_transport") is not None:
            chosen, source = values["ssh_transport"], f"ssh_transport in {where}"
    if os.environ.get("PACKTIVITY_SSH_TRANSPORT"):
        chosen, source = os.environ["PACKTIVITY_SSH_TRANSPORT"], "PACKTIVITY_SSH_TRANSPORT"
    if chosen not in TRANSPORTS:
        raise BackendError(f"{source}: '{chosen}' is not one of {', '.join(TRANSPORTS)}")
    return str(chosen)


def from_spec(environment: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The scheduler resources among a spec environment's ``resources`` entries.

    REANA's names are understood: ``slurm_partition`` and ``slurm_time`` as queue and walltime,
    ``kubernetes_memory_limit`` as the memory request when the spec names no ``memory`` (a
    Kubernetes limit is what the step was seen to fit in, and Slurm or PBS enforce a request as
    a limit too); its other names, and any name of another backend's namespace (``kubernetes_*``,
    ``htcondor_*``, ``c4p_*``), are logged at INFO and ignored.  Any other unknown name is an
    error (:meth:`Resources.merged`), so a misspelled name of ours is never silently dropped.
    """
    values: dict[str, Any] = {}
    kubernetes_memory = None
    for entry in (environment or {}).get("resources") or []:
        if isinstance(entry, str):
            if entry not in CONTAINER_RESOURCES:
                known = ", ".join(CONTAINER_RESOURCES)
                raise SpecError(f"unknown resource '{entry}' in the spec; known names: {known}")
            continue
        if not isinstance(entry, dict):
            raise SpecError(f"a spec resource must be a name or a mapping, got {entry!r}")
        for name, value in entry.items():
            if name == "kubernetes_memory_limit":
                kubernetes_memory = value
            elif name in ("gpu", "gpus"):
                values["gpus"] = value
            elif name in CONTAINER_RESOURCES:
                continue
            elif is_foreign(name):
                log.info("ignoring resource %s=%r: it is for another compute backend", name, value)
            else:
                values[name] = value
    if kubernetes_memory is not None:
        if "memory" in values:
            log.info(
                "ignoring kubernetes_memory_limit: the spec asks for memory=%s", values["memory"]
            )
        else:
            log.info("memory request %s from the spec's kubernetes_memory_limit", kubernetes_memory)
            values["memory"] = kubernetes_memory
    return values


#: REANA's resource names for its other compute backends and services, which mean nothing to a
#: Slurm or PBS job (``kerberos`` is a container resource here; ``slurm_*`` are in NAMES)
REANA_FOREIGN = (
    "compute_backend",
    "unpacked_img",
    "voms_proxy",
    "rucio",
)
#: name prefixes of other backends' resources (REANA: Kubernetes, HTCondor, CERN's C4P)
FOREIGN_PREFIXES = ("kubernetes_", "htcondor_", "c4p_")


def is_foreign(name: str) -> bool:
    """Whether a resource name belongs to another compute backend (ignored, not an error)."""
    return name in REANA_FOREIGN or name.startswith(FOREIGN_PREFIXES)
