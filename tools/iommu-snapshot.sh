#!/bin/sh
# iommu-snapshot.sh OUT.tar.gz -- what `acpitables snapshot` takes, for
# machines without acpitables: the ACPI tables, the PCI functions (with
# their config space: run as root, or bridges' types are unknown), the
# IOMMU groups, the IOMMUs and the kernel's IOMMU log lines.  Attach OUT to
# a bug report; `acpitables reconcile OUT` reads it.  POSIX sh + tar/gzip.
set -u
out=${1:?usage: iommu-snapshot.sh OUT.tar.gz}
root=${SYSFS_ROOT:-}           # a test may point this at a fake /sys tree
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iommu-snapshot.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
s=$tmp/acpitables-snapshot
mkdir -p "$s/tables" "$s/pci/devices" "$s/iommu_groups" "$s/iommu"
echo 1 > "$s/FORMAT"
uname -r > "$s/uname" 2>/dev/null
for f in "$root"/sys/firmware/acpi/tables/*; do
  [ -f "$f" ] && cat "$f" > "$s/tables/${f##*/}" 2>/dev/null
done
# the attribute links become files holding the name they point to
name_of() { [ -e "$1" ] && basename "$(readlink "$1")"; }
for d in "$root"/sys/bus/pci/devices/*; do
  [ -e "$d" ] || continue
  o=$s/pci/devices/${d##*/}
  mkdir -p "$o"
  for a in vendor device class config; do
    [ -r "$d/$a" ] && cat "$d/$a" > "$o/$a" 2>/dev/null
  done
  n=$(name_of "$d/driver") && echo "$n" > "$o/driver"
  n=$(name_of "$d/iommu_group") && echo "$n" > "$o/iommu_group"
  [ -L "$d/iommu" ] && n=$(name_of "$d/iommu") && echo "$n" > "$o/iommu"
done
for g in "$root"/sys/kernel/iommu_groups/*; do
  [ -d "$g" ] || continue
  mkdir -p "$s/iommu_groups/${g##*/}/devices"
  [ -r "$g/type" ] && cat "$g/type" > "$s/iommu_groups/${g##*/}/type"
  for m in "$g"/devices/*; do
    [ -e "$m" ] && : > "$s/iommu_groups/${g##*/}/devices/${m##*/}"
  done
done
for i in "$root"/sys/class/iommu/*; do
  [ -e "$i" ] || continue
  mkdir -p "$s/iommu/${i##*/}"
  n=$(name_of "$i/device") && echo "$n" > "$s/iommu/${i##*/}/device"
done
# Devices whose probe waits (for an IOMMU that has not registered): debugfs.
[ -r "$root"/sys/kernel/debug/devices_deferred ] &&
  cat "$root"/sys/kernel/debug/devices_deferred > "$s/deferred" 2>/dev/null
# Only the IOMMU lines: a whole kernel log says more than a bug report needs.
if [ -z "$root" ]; then
  dmesg 2>/dev/null | grep -i -e iommu -e viot -e iort -e dmar -e ivrs -e smmu \
    -e FW_BUG -e 'dma alias' > "$s/dmesg" || :
fi
tar -C "$tmp" -czf "$out" acpitables-snapshot || exit 1
echo "$out"
