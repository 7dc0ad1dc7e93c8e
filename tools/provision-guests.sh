#!/usr/bin/env bash
# tools/provision-guests.sh -- the IOMMU guests of issues 12 (RIMT) and 13
# (DMAR, IVRS): what tests/guest/test_guest_iommus.py boots.
#
# Same rules as tools/provision.sh (which calls this at its end): idempotent,
# quiet, never fatal; each item gets one "name: ok ..." or "name: missing:
# why" line in $CACHE/status (our lines are replaced, the others kept), and
# the tests that need a missing item skip with that line as the reason.
#
#  1. amd64-generic: bookworm-backports' generic linux-image-amd64 6.12 (the
#     cloud kernel lacks CONFIG_AMD_IOMMU; the generic one has both drivers
#     built in). Uses the bookworm-backports entry provision.sh adds.
#  2. RISC-V: qemu-system-riscv 11.1 (first QEMU with RIMT is 10.1) from
#     trixie-backports with the trixie libraries it links, opensbi (QEMU's
#     -bios on virt), qemu-efi-riscv64 (UEFI passes QEMU's ACPI tables), the
#     sid riscv64 7.2 kernel (CONFIG_ACPI_RIMT, CONFIG_RISCV_IOMMU[_PCI]
#     built in) and busybox-static:riscv64. These come from a private apt
#     configuration under $CACHE/apt (own lists, own cache, empty dpkg
#     status): the host's apt and dpkg are not told about riscv64, trixie-
#     backports or sid. QEMU runs through the unpacked trixie ld.so with
#     --library-path, like trixie's iasl in provision.sh.
#     The kernel's modules package (117 MB) is not fetched: everything the
#     guest needs is built in.
#
# Cache layout (read by tests/guest/harness.py):
#   $CACHE/amd64-generic/kernel/  boot/vmlinuz-*  lib/modules/<ver>/...
#   $CACHE/riscv64/qemu/          usr/bin/qemu-system-riscv64, usr/lib/x86_64-linux-gnu/...,
#                                 usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
#   $CACHE/riscv64/efi/           usr/share/qemu-efi-riscv64/RISCV_VIRT_{CODE,VARS}.fd
#   $CACHE/riscv64/kernel/        boot/vmlinuz-*  boot/config-*  lib/modules/<ver>/modules.builtin
#   $CACHE/riscv64/busybox/       bin/busybox
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ACPITABLES_CACHE:-$REPO/.cache/guest}
mkdir -p "$CACHE"
STATUS=$CACHE/status
START=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
OURS="kernel-amd64-generic qemu-riscv64 efi-riscv64 kernel-riscv64 busybox-riscv64"
NEW=$(mktemp "$CACHE/.status.XXXXXX")

note() { echo "provision-guests: $*" >&2; }
record() { echo "$1: $2" >> "$NEW"; [ "${2%% *}" = ok ] || note "missing: $1 ($2)"; }

# unpack NAME SPEC DEST [LABEL]: apt-get download SPEC (pkg[=version]
# words) and dpkg-deb -x each into DEST; cached by SPEC; LABEL is what the
# status line says (default SPEC).
unpack() {
    local name=$1 spec=$2 dest=$3 label=${4:-$2} tmp deb ok=1
    if [ -e "$dest/.unpacked" ] && [ "$(cat "$dest/.unpacked")" = "$spec" ]; then
        record "$name" "ok $label (cached)"; return 0
    fi
    tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
    # shellcheck disable=SC2086
    if (cd "$tmp" && apt-get ${APT_EXTRA:-} download -qq $spec >/dev/null 2>"$tmp/err"); then
        rm -rf "$dest"; mkdir -p "$dest"
        for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest" || ok=""; done
        if [ -n "$ok" ]; then
            echo "$spec" > "$dest/.unpacked"; record "$name" "ok $label"
        else
            record "$name" "missing: dpkg-deb -x failed for $spec"
        fi
    else
        record "$name" "missing: apt-get download failed: $(tr '\n' ' ' < "$tmp/err" | cut -c1-200)"
    fi
    rm -rf "$tmp"
}

# ---- 1. the generic amd64 6.12 kernel ----------------------------------------
K=$(apt-cache show linux-image-amd64/bookworm-backports 2>/dev/null \
    | sed -n 's/^Depends: \(linux-image-6\.12[^ ,]*-amd64\) (= \([^)]*\)).*/\1=\2/p' | head -n1)
if [ -n "$K" ]; then unpack kernel-amd64-generic "$K" "$CACHE/amd64-generic/kernel"
else record kernel-amd64-generic "missing: no linux-image-amd64 in bookworm-backports (run tools/provision.sh for the apt entry)"; fi

# ---- 2. private apt configuration for trixie, trixie-backports, sid ----------
debian_uri() {  # the URI this machine's own bookworm entry uses
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
SUITES="trixie trixie-backports sid"
APTD=$CACHE/apt
CONF=$APTD/apt.conf
riscv_items() { for i in qemu-riscv64 efi-riscv64 kernel-riscv64 busybox-riscv64; do record "$i" "missing: $1"; done; }

apt_private() {  # write the configuration; $1 = "signed" or "trusted"
    mkdir -p "$APTD/sources.list.d" "$APTD/preferences.d" "$APTD/lists/partial" "$APTD/cache/archives/partial"
    : > "$APTD/status"
    cat > "$CONF" <<EOF
Dir::Etc::SourceList "$APTD/sources.list";
Dir::Etc::SourceParts "$APTD/sources.list.d";
Dir::Etc::Preferences "$APTD/preferences";
Dir::Etc::PreferencesParts "$APTD/preferences.d";
Dir::State::Lists "$APTD/lists";
Dir::State::status "$APTD/status";
Dir::Cache "$APTD/cache";
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "srcpkgcache.bin";
APT::Architectures { "amd64"; "riscv64"; };
Acquire::Languages "none";
Debug::NoLocking "true";
EOF
    : > "$APTD/sources.list"
    local trust="Signed-By: $KEYRING"
    [ "$1" = trusted ] && trust="Trusted: yes"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nArchitectures: amd64 riscv64\n%s\n' \
        "$URI" "$SUITES" "$trust" > "$APTD/sources.list.d/guests.sources"
    # Libraries come from trixie (what the backported QEMU was built for);
    # sid only where a package is asked for by version.
    printf 'Package: *\nPin: release n=sid\nPin-Priority: 50\n' > "$APTD/preferences"
}
apt_fresh() {  # lists younger than a day for every suite
    local s
    for s in $SUITES; do
        [ -n "$(find "$APTD/lists" -maxdepth 1 -name "*_dists_${s}_*Release" -mtime -1 2>/dev/null)" ] || return 1
    done
}
# Each suite's InRelease checked with gpgv against the Debian keyring; the
# signed text must then be exactly the Release apt stored (apt itself checks
# every Packages file against that Release's hashes).
verify_by_hand() {
    local s got want
    for s in $SUITES; do
        got=$(mktemp "$CACHE/.rel.XXXXXX")
        if ! /usr/lib/apt/apt-helper download-file "$URI/dists/$s/InRelease" "$got.in" >/dev/null 2>&1 \
           || ! gpgv --keyring "$KEYRING" --output "$got" "$got.in" >/dev/null 2>&1; then
            rm -f "$got" "$got.in"; return 1
        fi
        # apt keeps the fetched InRelease (under either name when it could
        # not check it), or the Release text alone
        want=$(find "$APTD/lists" -maxdepth 1 -name "*_dists_${s}_*Release" | head -n1)
        if [ -z "$want" ] || ! { cmp -s "$want" "$got.in" || cmp -s "$want" "$got"; }; then
            rm -f "$got" "$got.in"; return 1
        fi
        rm -f "$got" "$got.in"
    done
}
# The host's apt.conf.d still applies (proxies, its Valid-Until policy);
# only the binary package cache, which container images switch off there,
# is switched back on, on the command line (which wins over every file):
# without it each apt-cache call below parses all the lists again (6 s
# instead of 30 s for a warm run).
CACHES="-o Dir::Cache::pkgcache=pkgcache.bin"
papt_get() { APT_CONFIG=$CONF apt-get $CACHES "$@"; }
APT_OK=""
if [ -z "$URI" ]; then
    riscv_items "no Debian bookworm apt source on this machine to take the mirror URI from"
elif [ -e "$CONF" ] && apt_fresh; then
    APT_OK=1
else
    apt_private signed
    if papt_get update -qq >"$APTD/update.log" 2>&1 && ! grep -q '^[WE]: ' "$APTD/update.log"; then
        APT_OK=1
    else
        # apt's own signature check needs a working apt-key/gpgv setup (it
        # fails where /dev/null is not writable): check by hand instead.
        apt_private trusted
        if papt_get update -qq >"$APTD/update.log" 2>&1 && verify_by_hand; then
            APT_OK=1
        else
            rm -rf "$APTD/lists"
            riscv_items "private apt update for $SUITES failed or did not verify (see $APTD/update.log)"
        fi
    fi
fi

# ---- 3. RISC-V downloads ----------------------------------------------------
if [ -n "$APT_OK" ]; then
    export APT_CONFIG=$CONF
    APT_EXTRA=$CACHES
    ver() {  # pkg[:arch] suite -> version
        apt-cache $APT_EXTRA madison "$1" 2>/dev/null | awk -F'|' -v s="$2/" '$3 ~ s {gsub(/ /,"",$2); print $2; exit}'
    }
    QV=$(ver qemu-system-riscv trixie-backports)
    if [ -z "$QV" ]; then
        record qemu-riscv64 "missing: no qemu-system-riscv in trixie-backports"
    else
        # The shared libraries it links, with theirs, from trixie: the lib*
        # packages of its dependency closure (libc6 included, so the unpacked
        # ld.so runs everything with its own libc); opensbi for -bios.
        LIBS=$(apt-cache $APT_EXTRA depends --recurse --no-recommends --no-suggests --no-conflicts \
                 --no-breaks --no-replaces --no-enhances "qemu-system-riscv=$QV" 2>/dev/null \
               | grep -E '^(lib|zlib1g)[^ <:]*$' | sort -u | tr '\n' ' ')
        unpack qemu-riscv64 "qemu-system-riscv=$QV opensbi $LIBS" "$CACHE/riscv64/qemu" \
            "qemu-system-riscv=$QV, opensbi and $(echo $LIBS | wc -w) trixie libraries"
    fi
    EV=$(ver qemu-efi-riscv64 sid)
    if [ -n "$EV" ]; then unpack efi-riscv64 "qemu-efi-riscv64=$EV" "$CACHE/riscv64/efi"
    else record efi-riscv64 "missing: no qemu-efi-riscv64 in sid"; fi
    # linux-image-riscv64 (sid) -> linux-image-<abi>-riscv64, split into
    # linux-binary (vmlinuz) + linux-base (config, modules.builtin) + modules.
    KV=$(ver linux-image-riscv64:riscv64 sid)
    KI=$(apt-cache $APT_EXTRA show "linux-image-riscv64:riscv64=$KV" 2>/dev/null \
         | sed -n '/^Depends:/p' | grep -o 'linux-image-[^ ,]*-riscv64' | head -n1)
    if [ -n "$KI" ]; then
        ABI=${KI#linux-image-}
        unpack kernel-riscv64 "linux-binary-$ABI:riscv64=$KV linux-base-$ABI:riscv64=$KV" "$CACHE/riscv64/kernel"
    else
        record kernel-riscv64 "missing: no linux-image-riscv64 (riscv64) in sid"
    fi
    BV=$(ver busybox-static:riscv64 sid)
    if [ -n "$BV" ]; then unpack busybox-riscv64 "busybox-static:riscv64=$BV" "$CACHE/riscv64/busybox"
    else record busybox-riscv64 "missing: no busybox-static (riscv64) in sid"; fi
    unset APT_CONFIG APT_EXTRA
fi

# Replace our lines in the status file, keep everybody else's.
{ [ -e "$STATUS" ] && grep -v -E "^($(echo $OURS | tr ' ' '|')): " "$STATUS"; cat "$NEW"; } > "$STATUS.guests"
mv "$STATUS.guests" "$STATUS"; rm -f "$NEW"
note "done in $(( $(date +%s) - START )) s; status in $STATUS"
exit 0
