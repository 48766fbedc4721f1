"""Which image a ``docker-encapsulated`` step runs in: ``image`` + ``imagetag`` -> a SIF.

Resolution order (the first that applies wins):

1. the site image map (YAML, ``image:tag`` or ``image`` -> a path, or a URI to pull once);
2. the SIF cache: ``<cachedir>/<name>.sif``, the name being the reference with ``/`` and ``:``
   replaced by ``_`` (``atlas/analysisbase:21.2.4`` -> ``atlas_analysisbase_21.2.4.sif``);
3. ``image`` itself, when it is a path to a ``.sif`` file or a sandbox directory;
4. ``<runtime> pull docker://image:tag`` into the cache -- once, on the submitting side, under a
   lock file, into a temporary name renamed into place (``templates/pull.sh.mustache``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shlex
import sys
from typing import Any, Optional

from ..errors import BackendError, ContainerRuntimeError, SpecError
from ..hosts import Host
from ..jobscript import ImageInfo
from ..templating import render
from .settings import container_config, host_path

#: what a URI in the image map may start with (anything the runtime's ``pull`` takes)
URI_SCHEMES = (
    "docker://",
    "oras://",
    "library://",
    "shub://",
    "http://",
    "https://",
    "oci-archive:",
    "docker-archive:",
)


#: the characters of an image reference (or a path given as image) that are accepted
_REFERENCE = re.compile(r"[A-Za-z0-9._/:@+~-]+")


def image_reference(environment: dict[str, Any]) -> str:
    """``image:tag`` of a docker-encapsulated environment (a digest or a path stands alone).

    Raises :class:`SpecError` for characters that no image reference has.
    """
    image = str(environment["image"])
    reference = (
        image
        if "@" in image or _is_path(image)
        else (f"{image}:{environment.get('imagetag') or 'latest'}")
    )
    if not _REFERENCE.fullmatch(reference):
        raise SpecError(f"not a valid image reference: {reference!r}")
    return reference


def cache_name(reference: str) -> str:
    """The cache file name of an image reference or URI (``docker://`` is implied)."""
    if reference.startswith("docker://"):
        reference = reference[len("docker://") :]
    flat = reference.replace("/", "_").replace(":", "_").replace("@", "_").strip("_")
    return f"{flat}.sif"


def _is_path(image: str) -> bool:
    return image.startswith(("/", "./", "../", "~")) or image.endswith(".sif")


def _is_uri(entry: str) -> bool:
    return entry.startswith(URI_SCHEMES)


def read_image_map(path: str, host: Host) -> dict[str, str]:
    """The image map at ``path``; relative paths in it are relative to the map's directory."""
    from .. import userfiles

    try:
        text = host.read_text(path)
    except FileNotFoundError:
        raise BackendError(f"image map {path} does not exist") from None
    except IsADirectoryError:
        raise BackendError(f"image map {path} is a directory") from None
    except UnicodeDecodeError:
        raise BackendError(f"image map {path} is not UTF-8 text") from None
    except OSError as error:
        raise BackendError(f"cannot read image map {path}: {error.strerror or error}") from None
    data = userfiles.parse_yaml(text, f"image map {path}", BackendError)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise BackendError(f"image map {path} must map image[:tag] strings to paths or URIs")
    base = os.path.dirname(path)
    return {
        key: value if _is_uri(value) else os.path.join(base, host.expanduser(value))
        for key, value in data.items()
    }


def _sha256(host: Host, path: str, cachedir: str) -> Optional[str]:
    """The SIF's sha256, None for a sandbox directory.

    Hashing a multi-GB image on every run would cost seconds, so digests are remembered in
    ``<cachedir>/.sha256/``, keyed by the file's path and valid while its size, modification
    time and inode stay the same (a replaced image is hashed again).
    """
    if host.is_dir(path):
        return None
    stamp = host.run(["stat", "-L", "-c", "%s %Y %i", path]).output.strip()
    memo = os.path.join(cachedir, ".sha256", hashlib.sha1(path.encode()).hexdigest())
    try:
        remembered_stamp, _, digest = host.read_text(memo).strip().rpartition(" ")
    except FileNotFoundError:
        remembered_stamp, digest = "", ""
    if stamp and remembered_stamp == stamp and len(digest) == 64:
        return digest
    digest = host.sha256(path)
    with contextlib.suppress(OSError):  # a read-only shared cache only costs the hashing
        host.write_text(memo, f"{stamp} {digest}\n")
    return digest


def pull_script(runtime: str, uri: str, sif: str) -> str:
    """The shell script that pulls ``uri`` into ``sif`` once (see the module docstring)."""
    return render(
        "pull.sh.mustache",
        {
            "sif": shlex.quote(sif),
            "uri": uri,
            "uri_word": shlex.quote(uri),
            "pull_command": shlex.join([runtime, "pull", sif + ".pulling", uri]),
        },
    )


def _pull(
    host: Host, runtime: str, uri: str, sif: str, logfile: Optional[str], dry_run: bool
) -> None:
    script = pull_script(runtime, uri, sif)
    if dry_run:
        print(f"dry run: would pull {uri}: {shlex.join(['sh', '-c', script])}", file=sys.stderr)
        return
    result = host.run_streamed(["sh", "-c", script], logfile=logfile)
    if result.returncode != 0 or not host.exists(sif):
        lines = [line for line in result.output.splitlines() if line.strip()]
        fatal = [line for line in lines if "FATAL" in line or "ERROR" in line]
        reason = (fatal or lines or ["no output"])[-1].strip()
        raise ContainerRuntimeError(
            f"could not pull {uri} into {sif} (exit code {result.returncode}): {reason}"
        )


def resolve_image(
    environment: dict[str, Any],
    settings: container_config,
    host: Host,
    *,
    log: logging.Logger,
    logfile: Optional[str] = None,
    dry_run: bool = False,
) -> ImageInfo:
    """Find (or pull once) the image of a docker-encapsulated environment on ``host``.

    Raises :class:`BackendError` for a broken image map and :class:`ContainerRuntimeError` when
    the image cannot be had (missing file, pulling switched off, a failed pull).
    """
    runtime = settings.container_runtime()
    reference = image_reference(environment)
    cachedir = settings.cachedir(host)

    def found(path: str, source: str) -> ImageInfo:
        log.info("image %s: %s (%s)", reference, path, source)
        sha = None if dry_run and not host.exists(path) else _sha256(host, path, cachedir)
        return ImageInfo(reference=reference, path=path, source=source, sha256=sha)

    def pulled(uri: str, source: str) -> ImageInfo:
        sif = os.path.join(cachedir, cache_name(uri))
        if host.exists(sif):
            return found(sif, f"{source}, cached pull of {uri}")
        if not settings.pull_software():
            raise ContainerRuntimeError(
                f"image {reference} is not in the cache ({sif}) and pulling is switched off "
                "(PACKTIVITY_DOCKER_NOPULL); pull it there or list it in an image map"
            )
        _pull(host, runtime, uri, sif, logfile, dry_run)
        return found(sif, f"dry run: would be pulled from {uri}" if dry_run else source)

    map_path = settings.image_map(host)
    if map_path:
        image_map = read_image_map(map_path, host)
        entry = image_map.get(reference) or image_map.get(str(environment["image"]))
        if entry and _is_uri(entry):
            return pulled(entry, f"image map {map_path}")
        if entry:
            if not host.exists(entry):
                raise ContainerRuntimeError(
                    f"image map {map_path} maps {reference} to {entry}, which does not exist"
                )
            return found(entry, f"image map {map_path}")

    cached = os.path.join(cachedir, cache_name(reference))
    if host.exists(cached):
        return found(cached, "cache")

    if _is_path(str(environment["image"])):
        image = host_path(str(environment["image"]), host)
        if not host.exists(image):
            raise ContainerRuntimeError(f"image {image} does not exist on {host.name}")
        return found(image, "local")

    return pulled(f"docker://{reference}", "pulled")
