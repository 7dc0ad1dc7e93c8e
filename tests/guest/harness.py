"""Boot Linux guests under QEMU and read back what they saw.

The guest is a stock Debian 6.12 cloud kernel (bookworm-backports, unpacked
by tools/provision.sh) with a small busybox initramfs built here: busybox,
the virtio-iommu module and its dependencies (from the kernel package's
modules.dep, decompressed on the host) and an /init that mounts proc, sysfs
and debugfs, loads the modules, prints the guest's VIOT/IORT tables, its
PCI functions, IOMMU groups, deferred devices and the VIOT/IORT/FW_BUG
kernel messages between markers on the serial console, then powers off.

Nothing here decides what is right: the tests compare this guest view with
acpitables' answers.
"""
from __future__ import annotations

import io
import lzma
import os
import re
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .tools import CACHE, status

QEMU = {"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}
EFI_AARCH64 = Path("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd")
# Modules the guest loads, in any order (dependencies are added from
# modules.dep). virtio_pci and virtio are built into the cloud kernels.
MODULES = ["virtio_iommu"]
# Drivers for more of the machine's own functions (q35's AHCI at 00:1f.2), so
# that they probe and so show whether they are translated; used when the
# kernel has them.
OPTIONAL_MODULES = ["ahci"]
BOOT_TIMEOUT = float(os.environ.get("ACPITABLES_BOOT_TIMEOUT", "120"))


@dataclass
class Kernel:
    arch: str
    image: Path
    root: Path  # unpacked package
    release: str  # uname -r

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release


def find_kernel(arch: str) -> tuple[Kernel | None, str]:
    root = CACHE / arch / "kernel"
    images = sorted((root / "boot").glob("vmlinuz-*")) if (root / "boot").is_dir() else []
    if not images:
        return None, f"no {arch} guest kernel under {root} ({status('kernel-' + arch)})"
    release = images[-1].name[len("vmlinuz-"):]
    return Kernel(arch, images[-1], root, release), ""


def qemu_for(arch: str) -> tuple[str | None, str]:
    path = shutil.which(QEMU[arch])
    if not path:
        pkg = "qemu-system-x86" if arch == "amd64" else "qemu-system-arm"
        return None, f"{QEMU[arch]} not installed ({pkg}: {status(pkg)})"
    if arch == "arm64" and not EFI_AARCH64.exists():
        return None, f"{EFI_AARCH64} missing (qemu-efi-aarch64: {status('qemu-efi-aarch64')})"
    return path, ""


def busybox_for(arch: str) -> tuple[Path | None, str]:
    path = Path("/bin/busybox") if arch == "amd64" else CACHE / "arm64/busybox/bin/busybox"
    if arch == "amd64" and not path.exists():
        return None, f"/bin/busybox missing (busybox-static: {status('busybox-static')})"
    if not path.exists():
        return None, f"no arm64 busybox at {path} ({status('busybox-arm64')})"
    return path, ""


def qemu_version(qemu: str) -> str:
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip()


def guest_ready(arch: str) -> tuple[tuple[str, Kernel, Path] | None, str]:
    """(qemu, kernel, busybox) or the reason this machine cannot boot an
    `arch` guest."""
    qemu, why = qemu_for(arch)
    if not qemu:
        return None, why
    kernel, why = find_kernel(arch)
    if not kernel:
        return None, why
    busybox, why = busybox_for(arch)
    if not busybox:
        return None, why
    return (qemu, kernel, busybox), ""


# ---- initramfs --------------------------------------------------------------

class Cpio:
    """A newc ("070701") archive, written directly: no cpio binary needed and
    no dependence on the host's file modes."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1) -> None:
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(f"{v:08X}".encode() for v in fields))
        self.buf.write(name_b)
        self.buf.write(b"\0" * (-(110 + len(name_b)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        self.buf.write(b"\0" * (-self.buf.tell() % 512))
        return self.buf.getvalue()


def _modinfo(data: bytes, key: str) -> str | None:
    """A value from a module's .modinfo strings ("key=value\\0")."""
    m = re.search(rb"(?:^|\0)" + key.encode() + rb"=([^\0]*)\0", data)
    return m.group(1).decode() if m else None


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def module_closure(kernel: Kernel, names: list[str],
                   optional: list[str] = ()) -> list[tuple[str, bytes]]:
    """(file name, uncompressed bytes) for the modules `names` and all they
    depend on, dependencies first. The packages ship no modules.dep (depmod
    runs at install), so dependencies come from each module's own .modinfo
    "depends=" line; modules.builtin says what needs no loading."""
    files: dict[str, Path] = {}
    for path in (kernel.modules / "kernel").rglob("*.ko*"):
        files[path.name.split(".ko")[0].replace("-", "_")] = path
    builtin = {Path(line).name.split(".ko")[0].replace("-", "_")
               for line in (kernel.modules / "modules.builtin").read_text().split()}
    order: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        key = name.replace("-", "_")
        if key in seen or key in builtin:
            return
        seen.add(key)
        if key not in files:
            raise FileNotFoundError(f"module {name} is neither in {kernel.modules} nor built "
                                    f"into {kernel.release}")
        data = _module_bytes(files[key])
        for dep in filter(None, (_modinfo(data, "depends") or "").split(",")):
            visit(dep)
        order.append((files[key].name.split(".ko")[0] + ".ko", data))

    for name in names:
        visit(name)
    for name in optional:
        if name.replace("-", "_") in files:
            visit(name)
    return order


INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "@@INSMOD-FAILED $m"; done
# Let deferred probing settle after the IOMMU driver registers.
i=0
while [ $i -lt 20 ]; do
  n=$(cat /sys/kernel/debug/devices_deferred 2>/dev/null | wc -l)
  [ "$n" = "$last" ] && [ $i -ge 3 ] && break
  last=$n; i=$((i+1)); sleep 0.1
done
echo "@@BEGIN"
echo "@@UNAME $(uname -r)"
for f in /sys/firmware/acpi/tables/VIOT* /sys/firmware/acpi/tables/IORT*; do
  [ -f "$f" ] || continue
  echo "@@TABLE ${f##*/}"
  od -An -tx1 -v "$f"
  echo "@@ENDTABLE"
done
echo "@@PCI"
for d in /sys/bus/pci/devices/*; do
  [ -e "$d" ] || continue
  drv=-; [ -e $d/driver ] && drv=$(basename $(readlink $d/driver))
  grp=-; [ -e $d/iommu_group ] && grp=$(basename $(readlink $d/iommu_group))
  echo "${d##*/} $(cat $d/vendor) $(cat $d/device) $(cat $d/class) $drv $grp"
done
echo "@@GROUPS"
for g in /sys/kernel/iommu_groups/*; do
  [ -d "$g" ] || continue
  for d in $g/devices/*; do [ -e "$d" ] && echo "${g##*/} ${d##*/}"; done
done
echo "@@IOMMUS"
for i in /sys/class/iommu/*; do [ -e "$i" ] && echo "${i##*/}"; done
echo "@@DEFERRED"
cat /sys/kernel/debug/devices_deferred
echo "@@DMESG"
dmesg | grep -i -e viot -e iort -e FW_BUG -e iommu -e smmu
echo "@@REPORT-END"
poweroff -f
"""


def build_initramfs(kernel: Kernel, busybox: Path, modules: list[str] = MODULES) -> bytes:
    cpio = Cpio()
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
        cpio.dir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    cpio.file("init", INIT.encode(), 0o755)
    names = []
    for name, data in module_closure(kernel, modules, OPTIONAL_MODULES):
        cpio.file(f"lib/modules/{name}", data)
        names.append(name)
    cpio.file("modules.order", ("\n".join(names) + "\n").encode())
    return cpio.finish()


def table_upgrade_cpio(tables: dict[str, bytes]) -> bytes:
    """The uncompressed cpio Linux's initrd table upgrade reads
    (Documentation/admin-guide/acpi/initrd_table_override.rst): tables under
    kernel/firmware/acpi/. It must come first in the initrd."""
    cpio = Cpio()
    for d in ("kernel", "kernel/firmware", "kernel/firmware/acpi"):
        cpio.dir(d)
    for name, data in tables.items():
        cpio.file(f"kernel/firmware/acpi/{name}", data)
    return cpio.finish()


# ---- running ----------------------------------------------------------------

@dataclass
class PciFunction:
    bdf: str  # "0000:00:03.0"
    vendor: int
    device: int
    cls: int
    driver: str | None
    group: str | None

    @property
    def rid(self) -> int:
        _, bus, devfn = self.bdf.split(":")
        dev, fn = devfn.split(".")
        return int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn, 16)

    @property
    def segment(self) -> int:
        return int(self.bdf.split(":")[0], 16)


@dataclass
class GuestView:
    console: str
    seconds: float
    uname: str = ""
    tables: dict[str, bytes] = field(default_factory=dict)  # sysfs name -> bytes
    pci: dict[str, PciFunction] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # bdf -> group
    iommus: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # device -> reason
    dmesg: list[str] = field(default_factory=list)
    insmod_failed: list[str] = field(default_factory=list)

    def fw_bugs(self, word: str = "") -> list[str]:
        return [line for line in self.dmesg
                if "FW_BUG" in line.upper().replace(" ", "_") or "firmware bug" in line.lower()
                if word.lower() in line.lower()]


class GuestError(RuntimeError):
    pass


def parse_console(text: str, seconds: float) -> GuestView:
    text = text.replace("\r", "")
    if "@@BEGIN" not in text or "@@REPORT-END" not in text:
        tail = "\n".join(text.splitlines()[-40:])
        raise GuestError(f"the guest did not print its report; console tail:\n{tail}")
    body = text.split("@@BEGIN", 1)[1].split("@@REPORT-END", 1)[0]
    view = GuestView(console=text, seconds=seconds)
    view.insmod_failed = re.findall(r"@@INSMOD-FAILED (\S+)", text)
    section, table, hexbuf = None, None, []
    for line in body.splitlines():
        if line.startswith("@@UNAME "):
            view.uname = line.split(" ", 1)[1].strip()
            continue
        if line.startswith("@@TABLE "):
            table, hexbuf, section = line.split()[1], [], "table"
            continue
        if line.startswith("@@ENDTABLE"):
            view.tables[table] = bytes.fromhex("".join(hexbuf))
            section = None
            continue
        if line.startswith("@@"):
            section = line[2:].strip()
            continue
        if section == "table":
            hexbuf.append(line.strip().replace(" ", ""))
        elif section == "PCI" and line.strip():
            bdf, ven, dev, cls, drv, grp = line.split()
            view.pci[bdf] = PciFunction(bdf, int(ven, 16), int(dev, 16), int(cls, 16),
                                        None if drv == "-" else drv,
                                        None if grp == "-" else grp)
        elif section == "GROUPS" and line.strip():
            grp, dev = line.split()
            view.groups[dev] = grp
        elif section == "IOMMUS" and line.strip():
            view.iommus.append(line.strip())
        elif section == "DEFERRED" and line.strip():
            dev, _, reason = line.partition("\t")
            view.deferred[dev.strip()] = reason.strip()
        elif section == "DMESG" and line.strip():
            view.dmesg.append(line.strip())
    return view


def boot(arch: str, qemu_args: list[str], *, upgrade_tables: dict[str, bytes] | None = None,
         workdir: Path, append: str = "") -> GuestView:
    """Boot one guest with `qemu_args` (machine, devices, -acpitable ...)
    added to the kernel/initrd/console options; return what it reported."""
    ready, why = guest_ready(arch)
    if not ready:
        raise GuestError(why)
    qemu, kernel, busybox = ready
    initrd = build_initramfs(kernel, busybox)
    if upgrade_tables:
        initrd = table_upgrade_cpio(upgrade_tables) + initrd
    initrd_path = workdir / f"initrd-{arch}.cpio"
    initrd_path.write_bytes(initrd)
    if arch == "amd64":
        base = [qemu, "-cpu", "max,-cx16", "-accel", "tcg"]
        cmdline = "console=ttyS0"
    else:
        base = [qemu, "-cpu", "max,pauth-impdef=on", "-accel", "tcg",
                "-bios", str(EFI_AARCH64)]
        cmdline = "console=ttyAMA0 acpi=force"
    argv = base + ["-m", "512", "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none",
                   "-serial", "stdio", "-monitor", "none",
                   "-kernel", str(kernel.image), "-initrd", str(initrd_path),
                   "-append", f"{cmdline} quiet panic=-1 {append}".strip()] + qemu_args
    (workdir / f"qemu-{arch}.argv").write_text(" ".join(argv) + "\n")
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=BOOT_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace")
        (workdir / f"console-{arch}.log").write_text(out)
        raise GuestError(f"guest did not power off within {BOOT_TIMEOUT:.0f} s; console tail:\n"
                         + "\n".join(out.splitlines()[-30:])) from None
    seconds = time.monotonic() - start
    out = proc.stdout.decode(errors="replace")
    (workdir / f"console-{arch}.log").write_text(out)
    if proc.returncode != 0 and "@@REPORT-END" not in out:
        raise GuestError(f"{QEMU[arch]} exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace').strip()}\n{out[-3000:]}")
    return parse_console(out, seconds)
