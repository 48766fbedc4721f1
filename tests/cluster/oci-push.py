#!/usr/bin/env python3
"""Push a root file system to a Docker/OCI registry as a one-layer OCI image (stdlib only).

    oci-push.py ROOTFS_DIR HOST:PORT REPOSITORY TAG [NAME=VALUE ...]

For the test cluster's registry on 127.0.0.1 (plain HTTP, no auth): tests pull
``docker://HOST:PORT/REPOSITORY:TAG`` from it the way a cluster pulls from Docker Hub.  The layer
is a reproducible tar.gz of ROOTFS_DIR (sorted, owner root, time 0) without Apptainer's own
metadata (``.singularity.d`` and its links); NAME=VALUE pairs become the image's environment.
Uses the Registry HTTP API V2 (monolithic blob uploads, an OCI image manifest).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request

APPTAINER_METADATA = {
    ".singularity.d",
    "environment",
    "singularity",
    ".exec",
    ".run",
    ".shell",
    ".test",
    ".inspect",
}


def layer_of(rootfs: str) -> tuple[bytes, str]:
    """The gzipped layer and the sha256 of the uncompressed tar (the image's diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top, dirs, files in os.walk(rootfs):
            rel_top = os.path.relpath(top, rootfs)
            if rel_top == ".":
                dirs[:] = [d for d in dirs if d not in APPTAINER_METADATA]
                files = [f for f in files if f not in APPTAINER_METADATA]
            dirs.sort()
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                info = tar.gettarinfo(path, arcname=os.path.normpath(os.path.join(rel_top, name)))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                if info.isreg():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def request(method: str, url: str, body: bytes = b"", content_type: str = "") -> tuple[int, dict]:
    req = urllib.request.Request(
        url, data=body if method in ("POST", "PUT") else None, method=method
    )
    if content_type:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, dict(resp.headers)


def push_blob(base: str, repo: str, blob: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    _, headers = request("POST", f"{base}/v2/{repo}/blobs/uploads/")
    location = headers["Location"]
    if location.startswith("/"):
        location = base + location
    separator = "&" if "?" in location else "?"
    request("PUT", f"{location}{separator}digest={digest}", blob, "application/octet-stream")
    return digest


def main(rootfs: str, registry: str, repo: str, tag: str, env: list[str]) -> None:
    base = f"http://{registry}"
    layer, diff_id = layer_of(rootfs)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env]
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": push_blob(base, repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(base, repo, layer),
                    "size": len(layer),
                }
            ],
        },
        sort_keys=True,
    ).encode()
    request(
        "PUT",
        f"{base}/v2/{repo}/manifests/{tag}",
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    print(f"pushed {registry}/{repo}:{tag} (layer {len(layer)} bytes)")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__.split("\n\n")[1])
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
