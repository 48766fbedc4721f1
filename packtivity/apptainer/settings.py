"""Container settings: environment variables first, then the backend's ``containers`` options.

=================================  ============================  ==============================
environment variable               backend option (containers:)  default
=================================  ============================  ==============================
``PACKTIVITY_CONTAINER_RUNTIME``   ``runtime``                   ``apptainer``
``PACKTIVITY_APPTAINER_IMAGE_MAP`` ``image_map``                 none
``PACKTIVITY_APPTAINER_CACHEDIR``  ``cachedir``                  ``~/.packtivity/images``
``PACKTIVITY_APPTAINER_CONTAIN``   ``contain``                   true (``--containall``)
``PACKTIVITY_DOCKER_NOPULL``       ``pull_images: false``        pull when missing
``PACKTIVITY_CVMFS_LOCATION``      --                            ``/cvmfs``
``PACKTIVITY_AUTH_LOCATION``       ``auth_location``             ``/home/recast/recast_auth``
``PACKTIVITY_AUTH_TARGETDIR``      ``auth_targetdir``            ``/recast_auth``
``PACKTIVITY_X509_USER_PROXY``     ``x509_user_proxy``           the step host's
                                                                 ``$X509_USER_PROXY``
=================================  ============================  ==============================
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ..errors import BackendError
from ..hosts import Host, local_host

RUNTIMES = ("apptainer", "singularity")
DEFAULT_CACHEDIR = os.path.join("~", ".packtivity", "images")


def host_path(path: str, host: Optional[Host] = None) -> str:
    """``path`` as an absolute path on ``host`` (``~`` is that host's home; a relative path is
    resolved on the host: relative to this process's directory here, to the login directory
    over SSH)."""
    host = host or local_host()
    path = host.expanduser(path)
    return path if path.startswith("/") else host.realpaths([path])[0]


def as_flag(value: Any, name: str) -> bool:
    parsed = value
    if isinstance(value, str):  # from the environment: YAML's true/false/yes/no/on/off
        from ..userfiles import parse_yaml_value

        parsed = parse_yaml_value(value, name, BackendError)
    if not isinstance(parsed, bool):
        raise BackendError(f"{name} must be true or false, got {value!r}")
    return parsed


class container_config:
    """Container settings of a backend (the original's class, extended for Apptainer)."""

    def __init__(self, config: Optional[dict[str, Any]] = None) -> None:
        self.config = config or {}

    def _get(self, env: str, option: str, default: Any) -> Any:
        if env in os.environ:
            return os.environ[env]
        return self.config.get(option, default)

    def container_runtime(self) -> str:
        """``apptainer`` or ``singularity``; anything else is a :class:`BackendError`."""
        runtime = str(self._get("PACKTIVITY_CONTAINER_RUNTIME", "runtime", "apptainer"))
        if runtime not in RUNTIMES:
            hint = " (HPC clusters have no Docker)" if runtime == "docker" else ""
            raise BackendError(
                f"unknown container runtime '{runtime}'{hint}; "
                f"set PACKTIVITY_CONTAINER_RUNTIME to one of: {', '.join(RUNTIMES)}"
            )
        return runtime

    def image_map(self, host: Optional[Host] = None) -> Optional[str]:
        """The site image map file (YAML ``image[:tag]: path or URI``) on ``host``, if any."""
        value = self._get("PACKTIVITY_APPTAINER_IMAGE_MAP", "image_map", None)
        return host_path(str(value), host) if value else None

    def cachedir(self, host: Optional[Host] = None) -> str:
        """The SIF cache directory on ``host``: on a cluster, storage that every node sees."""
        value = self._get("PACKTIVITY_APPTAINER_CACHEDIR", "cachedir", None) or DEFAULT_CACHEDIR
        return host_path(str(value), host)

    def contain(self) -> bool:
        """Run with ``--containall`` (no host $HOME, /tmp or environment inside)."""
        return as_flag(self._get("PACKTIVITY_APPTAINER_CONTAIN", "contain", True), "contain")

    def pull_software(self) -> bool:
        if "PACKTIVITY_DOCKER_NOPULL" in os.environ:
            return False
        return bool(self.config.get("pull_images", True))

    def cvmfs_location(self) -> str:
        return os.environ.get("PACKTIVITY_CVMFS_LOCATION", "/cvmfs")

    def auth_location(self) -> str:
        """Credentials (``getkrb.sh``, a grid proxy) bound for GRIDProxy/KRB5Auth resources."""
        return str(
            self._get("PACKTIVITY_AUTH_LOCATION", "auth_location", "/home/recast/recast_auth")
        )

    def x509_user_proxy(self, host: Optional[Host] = None) -> Optional[str]:
        """The grid proxy file passed into containers (and bound there), or None: from the
        configuration, else ``$X509_USER_PROXY`` as the step's host sets it (over SSH, the
        cluster's, never the laptop's)."""
        configured = self._get("PACKTIVITY_X509_USER_PROXY", "x509_user_proxy", None)
        if configured:
            return host_path(str(configured), host)
        return (host or local_host()).getenv("X509_USER_PROXY") or None

    def auth_targetdir(self) -> str:
        return str(self._get("PACKTIVITY_AUTH_TARGETDIR", "auth_targetdir", "/recast_auth"))
