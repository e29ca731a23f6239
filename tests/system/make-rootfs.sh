#!/bin/bash
# make-rootfs.sh TAR: a minimal Debian 12 with systemd, as a tar (debootstrap from Debian's mirror,
# about a minute); the systemd tests boot it as PID 1 of a container. Cached: an existing TAR is kept.
set -euo pipefail
TAR=${1:?tar path}
[ -f "$TAR" ] && exit 0
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d "${TAR%/*}/rootfs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libpam-systemd,procps \
  bookworm "$WORK/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
echo robbie-ci >"$WORK/root/etc/hostname"
: >"$WORK/root/etc/machine-id"
rm -rf "$WORK/root/var/cache/apt/archives/"*.deb
tar -C "$WORK/root" -cf "$TAR.part" .
mv "$TAR.part" "$TAR"
