#!/usr/bin/env bash
# Build the test images (containers/*.def) into SIFs under $IMAGES, offline from any registry:
# each image's root file system comes from Debian packages, then `apptainer build` runs the
# definition file with --build-arg rootfs=DIR.  A SIF built from the same .def is kept (cache).
#   images.sh IMAGES_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEFS=$(cd "$HERE/../../containers" && pwd)
IMAGES=${1:?usage: images.sh IMAGES_DIR}
WORK=$IMAGES/.build
log() { printf '[cluster/images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mkdir -p "$IMAGES" "$WORK"
mirror() {
    grep -hoE "^(URIs:|deb) +[^ ]+" /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -1 | awk '{print $2}'
}

rootfs_busybox() {  # DIR
    local dir=$1 tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && timeout 300 apt-get download -qq busybox-static) \
        || { apt-get update -qq >/dev/null 2>&1; (cd "$tmp" && timeout 300 apt-get download -qq busybox-static); }
    dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/x"
    mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root" "$dir/usr/bin"
    cp "$tmp/x/bin/busybox" "$dir/bin/"
    for applet in $("$dir/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$dir/etc/passwd"
    printf 'root:x:0:\n' > "$dir/etc/group"
    rm -rf "$tmp"
}

rootfs_python() {  # DIR
    local dir=$1
    command -v debootstrap >/dev/null || { log "debootstrap is missing (cluster up installs it)"; return 1; }
    timeout 900 debootstrap --variant=minbase --include=python3-minimal bookworm "$dir" "$(mirror)" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
    rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
}

for def in "$DEFS"/*.def; do
    name=$(basename "$def" .def)
    sif="$IMAGES/$name.sif"
    # the cache key is the content of the definition and of this builder, not file times
    # (a fresh clone gives every file a new mtime)
    key=$(cat "$def" "$0" | sha256sum | cut -d' ' -f1)
    if [ -s "$sif" ] && [ "$(cat "$sif.key" 2>/dev/null)" = "$key" ]; then
        continue
    fi
    log "building $name from $def"
    t0=$(date +%s)
    rootfs="$WORK/$name-rootfs"
    rm -rf "$rootfs"; mkdir -p "$rootfs"
    "rootfs_$name" "$rootfs"
    timeout 900 apptainer -q build --force --build-arg "rootfs=$rootfs" "$sif.tmp" "$def" \
        >"$WORK/$name.build.log" 2>&1 || { tail -20 "$WORK/$name.build.log" >&2; rm -f "$sif.tmp"; exit 1; }
    mv -f "$sif.tmp" "$sif"
    echo "$key" > "$sif.key"
    rm -rf "$rootfs"
    log "built $sif ($(du -h "$sif" | cut -f1)) in $(( $(date +%s) - t0 )) s"
done
