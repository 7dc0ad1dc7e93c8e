#!/usr/bin/env bash
# tools/provision.sh -- install and unpack what the consumer tests need.
#
# Idempotent, quiet, safe to rerun; never fatal for CI (.ci/run calls it with
# "|| true"). What could not be had is printed as "provision: missing: ..."
# and the tests that need it skip with that reason (fail, under CI).
#
#  1. Debian packages: acpica-tools (bookworm's iasl/acpidump/acpixtract),
#     device-tree-compiler (dtc, for the .dts mapper tests), graphviz (dot, for
#     the topology pictures), qemu-system-x86,
#     qemu-system-arm, qemu-efi-aarch64, busybox-static, cpio.
#  2. Two extra apt entries built from the URI this machine's own Debian
#     sources use: bookworm-backports (6.12 cloud kernels with VIOT,
#     virtio-iommu, IORT, SMMUv3, initrd table upgrade) and trixie (a newer
#     acpica-tools that knows VIOT and IORT revisions >= 3). Both are pinned
#     low so that nothing installed is ever upgraded from them.
#  3. apt-get download + dpkg-deb -x into $ACPITABLES_CACHE (default
#     <repo>/.cache/guest): the amd64 and arm64 cloud kernels, busybox-static
#     for arm64, and trixie's acpica-tools + libc6 (run with trixie's ld.so
#     --library-path, nothing installed system-wide).
#
# Layout of the cache (read by tests/guest/harness.py and tests/test_dsl*.py):
#   $CACHE/amd64/kernel/   boot/vmlinuz-*  lib/modules/<ver>/...
#   $CACHE/arm64/kernel/   boot/vmlinuz-*  lib/modules/<ver>/...
#   $CACHE/arm64/busybox/  bin/busybox
#   $CACHE/trixie/root/    usr/bin/iasl, lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ...
#   $CACHE/status          one "name: ok|missing <why>" line per item
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ACPITABLES_CACHE:-$REPO/.cache/guest}
mkdir -p "$CACHE"
STATUS=$CACHE/status
: > "$STATUS.new"
START=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

note() { echo "provision: $*" >&2; }
record() { echo "$1: $2" >> "$STATUS.new"; [ "${2%% *}" = ok ] || note "missing: $1 ($2)"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        note "not root and no password-less sudo: only what is already present is used"
        SUDO="false"
    fi
fi

# ---- 1. system packages ---------------------------------------------------
PKGS="acpica-tools device-tree-compiler graphviz qemu-system-x86 qemu-system-arm qemu-efi-aarch64 busybox-static cpio"
need=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
UPDATED=""
apt_update() {
    [ -n "$UPDATED" ] && return 0
    $SUDO apt-get update -qq >/dev/null 2>&1 && UPDATED=1
}
if [ -n "$need" ]; then
    apt_update || note "apt-get update failed"
    $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1 \
        || note "apt-get install$need failed"
fi
for p in $PKGS; do
    if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed"; then
        record "$p" "ok $(dpkg-query -W -f='${Version}' "$p")"
    else
        record "$p" "missing: apt-get install $p failed"
    fi
done

# ---- 2. extra apt entries ---------------------------------------------------
# The Debian URI and keyring this machine already uses for its bookworm suite.
debian_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        awk 'BEGIN{RS=""; FS="\n"}
             { uri=""; suites=""; for (i=1;i<=NF;i++) {
                 if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, " "); uri=u[1] }
                 if ($i ~ /^Suites:/) suites=$i }
               if (suites ~ /[ \t]bookworm([ \t]|$)/ && uri != "") { print uri; exit } }' "$f"
    done
    [ -e /etc/apt/sources.list ] && awk '$1=="deb" && $0 ~ / bookworm( |$)/ {
        for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list
}
URI=$(debian_uri | head -n1)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SRC_DIR=/etc/apt/sources.list.d
PREF=/etc/apt/preferences.d/acpitables
if [ -z "$URI" ]; then
    note "no Debian bookworm apt source found on this machine; cannot add backports/trixie"
elif [ "$SUDO" != false ]; then
    changed=""
    write_if_changed() {  # path content
        if [ ! -e "$1" ] || [ "$(cat "$1")" != "$2" ]; then
            printf '%s\n' "$2" | $SUDO tee "$1" >/dev/null && changed=1
        fi
    }
    write_if_changed "$SRC_DIR/acpitables-backports.sources" "Types: deb
URIs: $URI
Suites: bookworm-backports
Components: main
Architectures: amd64 arm64
Signed-By: $KEYRING"
    write_if_changed "$SRC_DIR/acpitables-trixie.sources" "Types: deb
URIs: $URI
Suites: trixie
Components: main
Architectures: amd64
Signed-By: $KEYRING"
    # Low priorities: nothing is ever installed or upgraded from these by
    # accident; we only 'apt-get download' named packages.
    write_if_changed "$PREF" "Package: *
Pin: release n=bookworm-backports
Pin-Priority: 50

Package: *
Pin: release n=trixie
Pin-Priority: 1"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64 && changed=1
    fi
    # Refresh the lists when an entry changed or they are older than a day.
    lists_old=$(find /var/lib/apt/lists -maxdepth 1 -name '*bookworm-backports*Packages*' -mtime -1 2>/dev/null | head -n1)
    if [ -n "$changed" ] || [ -z "$lists_old" ]; then
        UPDATED=""
        apt_update || note "apt-get update with backports/trixie failed"
    fi
fi

# ---- 3. downloads into the cache --------------------------------------------
# The exact kernel package the bookworm-backports cloud meta-package
# depends on (the backports kernel, not a same-named one from another suite).
backports_kernel() {  # meta[:arch]
    apt-cache show "$1/bookworm-backports" 2>/dev/null \
        | sed -n 's/^Depends: \(linux-image-6\.12[^ ,]*-cloud-[a-z0-9]*\).*/\1/p' | head -n1
}
fetch() {  # name pkgspec destdir
    local name=$1 spec=$2 dest=$3 tmp
    if [ -e "$dest/.unpacked" ] && [ "$(cat "$dest/.unpacked")" = "$spec" ]; then
        record "$name" "ok $spec (cached)"; return 0
    fi
    tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
    if (cd "$tmp" && apt-get download -qq "$spec" >/dev/null 2>&1); then
        rm -rf "$dest"; mkdir -p "$dest"
        local deb ok=1
        for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest" || ok=""; done
        if [ -n "$ok" ]; then
            echo "$spec" > "$dest/.unpacked"; record "$name" "ok $spec"
        else
            record "$name" "missing: dpkg-deb -x failed for $spec"
        fi
    else
        record "$name" "missing: apt-get download $spec failed"
    fi
    rm -rf "$tmp"
}
K64=$(backports_kernel linux-image-cloud-amd64)
if [ -n "$K64" ]; then fetch kernel-amd64 "$K64" "$CACHE/amd64/kernel"
else record kernel-amd64 "missing: no linux-image-cloud-amd64 in bookworm-backports (apt entry?)"; fi
KA64=$(backports_kernel linux-image-cloud-arm64:arm64)
if [ -n "$KA64" ]; then fetch kernel-arm64 "$KA64:arm64" "$CACHE/arm64/kernel"
else record kernel-arm64 "missing: no linux-image-cloud-arm64 (arm64) in bookworm-backports"; fi
fetch busybox-arm64 "busybox-static:arm64" "$CACHE/arm64/busybox"
TRIXIE_ACPICA=$(apt-cache madison acpica-tools 2>/dev/null | awk -F'|' '$3 ~ /trixie/ {gsub(/ /,"",$2); print $2; exit}')
TRIXIE_LIBC=$(apt-cache madison libc6 2>/dev/null | awk -F'|' '$3 ~ /trixie/ && $3 ~ /amd64/ {gsub(/ /,"",$2); print $2; exit}')
if [ -n "$TRIXIE_ACPICA" ] && [ -n "$TRIXIE_LIBC" ]; then
    dest=$CACHE/trixie/root
    spec="acpica-tools=$TRIXIE_ACPICA libc6=$TRIXIE_LIBC"
    if [ -e "$dest/.unpacked" ] && [ "$(cat "$dest/.unpacked")" = "$spec" ]; then
        record trixie-acpica "ok $spec (cached)"
    else
        tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
        if (cd "$tmp" && apt-get download -qq "acpica-tools=$TRIXIE_ACPICA" "libc6=$TRIXIE_LIBC" >/dev/null 2>&1); then
            rm -rf "$dest"; mkdir -p "$dest"
            for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
            echo "$spec" > "$dest/.unpacked"; record trixie-acpica "ok $spec"
        else
            record trixie-acpica "missing: apt-get download of trixie's acpica-tools/libc6 failed"
        fi
        rm -rf "$tmp"
    fi
else
    record trixie-acpica "missing: no trixie acpica-tools/libc6 in apt's lists"
fi

mv "$STATUS.new" "$STATUS"
bash "$REPO/tools/provision-guests.sh" || note "provision-guests.sh failed"  # RISC-V + x86 IOMMU guests
note "done in $(( $(date +%s) - START )) s; status in $STATUS"
exit 0
