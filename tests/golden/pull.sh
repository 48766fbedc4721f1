#!/bin/sh
# packtivity image pull: docker://registry.example:5000/a/b:1.0 -> /c/a_b_1.0.sif, once.  Every packtivity that needs this image
# runs this script; the first takes the lock and pulls, the others wait for the lock and then
# find the SIF.  The SIF appears complete or not at all (pulled under another name, renamed),
# so a reader on the shared file system never sees half an image.
set -eu
sif=/c/a_b_1.0.sif
uri=docker://registry.example:5000/a/b:1.0
mkdir -p "$(dirname "$sif")"
exec 9>>"$sif.lock"
if ! flock -n 9; then
    echo "packtivity: waiting for another pull of $uri (lock $sif.lock)" >&2
    flock 9
fi
if [ -s "$sif" ]; then
    echo "packtivity: $uri is in the cache now: $sif" >&2
    exit 0
fi
echo "packtivity: pulling $uri into $sif" >&2
rm -f "$sif.pulling"
trap 'rm -f "$sif.pulling"' EXIT
apptainer pull /c/a_b_1.0.sif.pulling docker://registry.example:5000/a/b:1.0
mv -f "$sif.pulling" "$sif"
