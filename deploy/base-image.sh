#!/usr/bin/env bash
# Build a local stand-in for the python:3.12-slim base image from Debian
# packages (debootstrap minbase + python3, python3-venv, python3-pip) and
# import it into the local container storage. Useful where no registry with
# the official Python images is reachable.
#
# Usage: deploy/base-image.sh [IMAGE]      (default localhost/gradtape-base:bookworm)
# Env:   DEBIAN_MIRROR   mirror URL (default: taken from the host's apt sources)
#        DEBIAN_SUITE    default bookworm
#        STORAGE_DRIVER  container storage driver (default vfs)
#        FORCE_REBUILD=1 rebuild even if the image already exists
set -euo pipefail

IMAGE="${1:-${GRADTAPE_BASE_IMAGE:-localhost/gradtape-base:bookworm}}"
SUITE="${DEBIAN_SUITE:-bookworm}"
STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
PODMAN=(podman --storage-driver "$STORAGE_DRIVER")

log() { printf '== %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v podman >/dev/null 2>&1 || need+=(podman)
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "${FORCE_REBUILD:-0}" != 1 ] && "${PODMAN[@]}" image exists "$IMAGE"; then
    log "base image $IMAGE already present (FORCE_REBUILD=1 to rebuild)"
    exit 0
fi

# Find the Debian mirror the host uses (deb822 .sources files or one-line lists).
mirror_from_apt() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
            /^URIs:/   { uri=$2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
            END { if (uri != "" && ok) print uri }
        ' "$f" | head -n1
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '$1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f"
    done
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_apt | head -n1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

work="$(mktemp -d /var/tmp/gradtape-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

log "debootstrap $SUITE (minbase) from $MIRROR"
start=$SECONDS
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed"
    }

# Slim the tree: package caches, lists, docs, man pages, locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* \
       "$rootfs"/usr/share/man/* \
       "$rootfs"/usr/share/info/* \
       "$rootfs"/var/log/*.log \
       "$rootfs"/tmp/* || true
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
# Point apt inside the image at the same mirror the image was built from.
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$rootfs/etc/apt/sources.list"

log "importing rootfs as $IMAGE"
tar --numeric-owner -C "$rootfs" -c . | "${PODMAN[@]}" import --quiet \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
log "base image $IMAGE built in $((SECONDS - start))s ($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
