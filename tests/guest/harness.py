"""Boot Linux guests under QEMU and read back what they saw.

The guest is a stock Debian 6.12 cloud kernel (bookworm-backports, unpacked
by tools/provision.sh) with a small busybox initramfs built here: busybox,
the virtio-iommu module and its dependencies (from the kernel package's
modules.dep, decompressed on the host) and an /init that mounts proc, sysfs
and debugfs, loads the modules, prints the guest's VIOT/IORT tables, its
PCI functions, IOMMU groups, deferred devices and the VIOT/IORT/FW_BUG
kernel messages between markers on the serial console, then powers off.

Two more guests for the IOMMU tables of issues 12 and 13 (unpacked by
tools/provision-guests.sh): "riscv64" (QEMU 11.1 from trixie-backports run
through trixie's ld.so, opensbi + edk2 RiscVVirt from pflash, the sid 7.2
kernel with RIMT and the RISC-V IOMMU built in) and "amd64-generic" (the
generic bookworm-backports 6.12 kernel, which has the Intel and AMD IOMMU
drivers the cloud kernel lacks). The same initramfs prints whichever tables
the caller names (boot(..., tables=...)).

Nothing here decides what is right: the tests compare this guest view with
acpitables' answers.
"""
from __future__ import annotations

import base64
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

QEMU = {"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64",
        "amd64-generic": "qemu-system-x86_64", "riscv64": "qemu-system-riscv64"}
EFI_AARCH64 = Path("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd")
# tools/provision-guests.sh's unpack directories.
RISCV = CACHE / "riscv64"
RISCV_QEMU = RISCV / "qemu"
RISCV_OPENSBI = RISCV_QEMU / "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
RISCV_EFI = RISCV / "efi/usr/share/qemu-efi-riscv64"
# The status-file item behind each guest's kernel and busybox.
KERNEL_ITEM = {"amd64": "kernel-amd64", "arm64": "kernel-arm64",
               "amd64-generic": "kernel-amd64-generic", "riscv64": "kernel-riscv64"}
# Tables the initramfs prints unless the caller names others.
TABLES = ("VIOT", "IORT")
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
        # Debian's split 7.x packages (linux-base/-binary) install under /usr.
        for top in (self.root / "lib", self.root / "usr" / "lib"):
            if (top / "modules" / self.release).is_dir():
                return top / "modules" / self.release
        return self.root / "lib" / "modules" / self.release


def find_kernel(arch: str) -> tuple[Kernel | None, str]:
    root = CACHE / arch / "kernel"
    images = sorted((root / "boot").glob("vmlinuz-*")) if (root / "boot").is_dir() else []
    if images:
        release = images[-1].name[len("vmlinuz-"):]
        return Kernel(arch, images[-1], root, release), ""
    # linux-binary-<abi> ships /usr/lib/modules/<abi>/vmlinuz
    split = sorted((root / "usr/lib/modules").glob("*/vmlinuz")) \
        if (root / "usr/lib/modules").is_dir() else []
    if split:
        return Kernel(arch, split[-1], root, split[-1].parent.name), ""
    return None, f"no {arch} guest kernel under {root} ({status(KERNEL_ITEM[arch])})"


def qemu_argv(arch: str) -> tuple[list[str] | None, str]:
    """The command prefix that runs `arch`'s QEMU, or why there is none.
    riscv64's QEMU is trixie-backports' 11.1, run through the trixie ld.so
    unpacked next to it (the host's glibc is too old for it)."""
    if arch != "riscv64":
        path, why = qemu_for(arch)
        return ([path] if path else None), why
    ld = RISCV_QEMU / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    binary = RISCV_QEMU / "usr/bin/qemu-system-riscv64"
    if not (ld.exists() and binary.exists()):
        return None, f"qemu-system-riscv64 11.1 not unpacked under {RISCV_QEMU} ({status('qemu-riscv64')})"
    for need, item in ((RISCV_OPENSBI, "qemu-riscv64"), (RISCV_EFI / "RISCV_VIRT_CODE.fd", "efi-riscv64")):
        if not need.exists():
            return None, f"{need} missing ({status(item)})"
    libs = f"{RISCV_QEMU}/usr/lib/x86_64-linux-gnu:{RISCV_QEMU}/lib/x86_64-linux-gnu"
    return [str(ld), "--library-path", libs, str(binary)], ""


def qemu_for(arch: str) -> tuple[str | None, str]:
    if arch == "riscv64":
        argv, why = qemu_argv(arch)
        return (str(RISCV_QEMU / "usr/bin/qemu-system-riscv64") if argv else None), why
    path = shutil.which(QEMU[arch])
    if not path:
        pkg = "qemu-system-x86" if arch == "amd64" else "qemu-system-arm"
        return None, f"{QEMU[arch]} not installed ({pkg}: {status(pkg)})"
    if arch == "arm64" and not EFI_AARCH64.exists():
        return None, f"{EFI_AARCH64} missing (qemu-efi-aarch64: {status('qemu-efi-aarch64')})"
    return path, ""


def busybox_for(arch: str) -> tuple[Path | None, str]:
    if arch in ("amd64", "amd64-generic"):
        path = Path("/bin/busybox")
    else:
        # trixie and later ship it as /usr/bin/busybox (merged /usr)
        path = CACHE / arch / "busybox/bin/busybox"
        if not path.exists() and (CACHE / arch / "busybox/usr/bin/busybox").exists():
            path = CACHE / arch / "busybox/usr/bin/busybox"
    if arch in ("amd64", "amd64-generic") and not path.exists():
        return None, f"/bin/busybox missing (busybox-static: {status('busybox-static')})"
    if not path.exists():
        return None, f"no {arch} busybox at {path} ({status('busybox-' + arch)})"
    return path, ""


def qemu_version(qemu: str | list[str]) -> str:
    """`qemu` is a binary name or path, an arch ("riscv64"), or an argv prefix."""
    if isinstance(qemu, str) and qemu in QEMU:
        qemu = qemu_argv(qemu)[0] or [QEMU[qemu]]
    argv = [qemu] if isinstance(qemu, str) else list(qemu)
    out = subprocess.run(argv + ["--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip()


def guest_ready(arch: str) -> tuple[tuple[list[str], Kernel, Path] | None, str]:
    """(qemu argv prefix, kernel, busybox) or the reason this machine cannot
    boot an `arch` guest."""
    qemu, why = qemu_argv(arch)
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
for f in @@TABLEGLOB@@; do
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
  # a link to the translating IOMMU (an IOMMU's own function has a directory)
  mmu=-; [ -L $d/iommu ] && mmu=$(basename $(readlink $d/iommu))
  echo "${d##*/} $(cat $d/vendor) $(cat $d/device) $(cat $d/class) $drv $grp $mmu"
done
echo "@@GROUPS"
for g in /sys/kernel/iommu_groups/*; do
  [ -d "$g" ] || continue
  for d in $g/devices/*; do [ -e "$d" ] && echo "${g##*/} ${d##*/}"; done
done
echo "@@IOMMUS"
for i in /sys/class/iommu/*; do
  [ -e "$i" ] || continue
  dev=-; [ -L $i/device ] && dev=$(basename $(readlink $i/device))
  echo "${i##*/} $dev"
done
echo "@@DEFERRED"
cat /sys/kernel/debug/devices_deferred
echo "@@DMESG"
dmesg | grep -i -e viot -e iort -e FW_BUG -e iommu -e smmu@@DMESGWORDS@@
# The same state as an `acpitables snapshot` archive, for `acpitables reconcile`.
echo "@@SNAPSHOT"
TMPDIR=/tmp sh /iommu-snapshot.sh /tmp/snapshot.tar.gz >/dev/null && base64 /tmp/snapshot.tar.gz
echo "@@ENDSNAPSHOT"
echo "@@REPORT-END"
poweroff -f
"""


def init_script(tables: tuple[str, ...] = TABLES, dmesg_words: tuple[str, ...] = ()) -> str:
    """/init, printing the ACPI tables `tables` (every instance: DMAR, DMAR1,
    ...) and the dmesg lines with IOMMU words plus `dmesg_words`."""
    glob = " ".join(f"/sys/firmware/acpi/tables/{sig}*" for sig in tables)
    words = "".join(f" -e {w}" for w in dmesg_words)
    return INIT.replace("@@TABLEGLOB@@", glob).replace("@@DMESGWORDS@@", words)


# The script users run on machines without acpitables (docs/reconcile.md).
SNAPSHOT_SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "iommu-snapshot.sh"


def build_initramfs(kernel: Kernel, busybox: Path, modules: list[str] = MODULES,
                    optional: list[str] = OPTIONAL_MODULES, init: str | None = None) -> bytes:
    cpio = Cpio()
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
        cpio.dir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    cpio.file("init", (init or init_script()).encode(), 0o755)
    cpio.file("iommu-snapshot.sh", SNAPSHOT_SCRIPT.read_bytes(), 0o755)
    names = []
    for name, data in module_closure(kernel, modules, optional):
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
    iommu: str | None = None  # /sys/class/iommu name the device is attached to

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
    # iommu name -> the device it is (a PCI BDF for riscv-iommu-pci and
    # amd-iommu, a platform device name, or None for DMAR units)
    iommu_devices: dict[str, str | None] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)  # device -> reason
    dmesg: list[str] = field(default_factory=list)
    insmod_failed: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)  # the QEMU command line
    snapshot: bytes = b""  # tools/iommu-snapshot.sh's archive, run in the guest

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
    section, table, hexbuf, snap = None, None, [], []
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
        if line.startswith("@@ENDSNAPSHOT"):
            view.snapshot = base64.b64decode("".join(snap))
            section = None
            continue
        if line.startswith("@@"):
            section = line[2:].strip()
            snap = [] if section == "SNAPSHOT" else snap
            continue
        if section == "SNAPSHOT":
            snap.append(line.strip())
            continue
        if section == "table":
            hexbuf.append(line.strip().replace(" ", ""))
        elif section == "PCI" and line.strip():
            bdf, ven, dev, cls, drv, grp, *mmu = line.split()
            view.pci[bdf] = PciFunction(bdf, int(ven, 16), int(dev, 16), int(cls, 16),
                                        None if drv == "-" else drv,
                                        None if grp == "-" else grp,
                                        None if not mmu or mmu[0] == "-" else mmu[0])
        elif section == "GROUPS" and line.strip():
            grp, dev = line.split()
            view.groups[dev] = grp
        elif section == "IOMMUS" and line.strip():
            name, *dev = line.split()
            view.iommus.append(name)
            view.iommu_devices[name] = None if not dev or dev[0] == "-" else dev[0]
        elif section == "DEFERRED" and line.strip():
            dev, _, reason = line.partition("\t")
            view.deferred[dev.strip()] = reason.strip()
        elif section == "DMESG" and line.strip():
            view.dmesg.append(line.strip())
    return view


# Per-guest fixed options: CPU, firmware, console. amd64 keeps -cx16 (the
# VIOT cases as they always ran; docs/qemu.md: QEMU 7.2 guests with plain
# -cpu max crash now and then). amd64-generic needs CMPXCHG16B, which the AMD
# IOMMU driver requires ("The CMPXCHG16B feature is required"): the plain
# qemu64 model plus that one flag (both it and max booted every DMAR/IVRS
# machine here; the smaller model adds nothing else that could differ).
AMD64_GENERIC_CPU = os.environ.get("ACPITABLES_AMD64_CPU", "qemu64,+cx16")
RISCV_MACHINE = "virt,aia=aplic-imsic,acpi=on"


def _base_argv(arch: str, qemu: list[str], workdir: Path) -> tuple[list[str], str, str]:
    """(argv up to the common options, kernel console options, memory)."""
    if arch == "amd64":
        return qemu + ["-cpu", "max,-cx16", "-accel", "tcg"], "console=ttyS0", "512"
    if arch == "amd64-generic":
        return qemu + ["-cpu", AMD64_GENERIC_CPU, "-accel", "tcg"], "console=ttyS0", "512"
    if arch == "riscv64":
        # OpenSBI as -bios, edk2 from pflash (it hands QEMU's ACPI tables to
        # the -kernel EFI image); a private copy of the writable VARS store.
        vars_copy = workdir / "RISCV_VIRT_VARS.fd"
        shutil.copyfile(RISCV_EFI / "RISCV_VIRT_VARS.fd", vars_copy)
        return qemu + ["-cpu", "rv64", "-accel", "tcg", "-bios", str(RISCV_OPENSBI),
                       "-drive", f"if=pflash,unit=0,format=raw,readonly=on,"
                                 f"file={RISCV_EFI / 'RISCV_VIRT_CODE.fd'}",
                       "-drive", f"if=pflash,unit=1,format=raw,file={vars_copy}"], \
            "console=ttyS0 acpi=force", "1024"
    return qemu + ["-cpu", "max,pauth-impdef=on", "-accel", "tcg", "-bios", str(EFI_AARCH64)], \
        "console=ttyAMA0 acpi=force", "512"


def boot(arch: str, qemu_args: list[str], *, upgrade_tables: dict[str, bytes] | None = None,
         workdir: Path, append: str = "", tables: tuple[str, ...] = TABLES,
         dmesg_words: tuple[str, ...] = (), modules: list[str] | None = None,
         optional_modules: list[str] | None = None) -> GuestView:
    """Boot one guest with `qemu_args` (machine, devices, -acpitable ...)
    added to the kernel/initrd/console options; return what it reported.
    The full command line is left in workdir/qemu-<arch>.argv."""
    ready, why = guest_ready(arch)
    if not ready:
        raise GuestError(why)
    qemu, kernel, busybox = ready
    if modules is None:
        modules = MODULES if arch in ("amd64", "arm64") else []
    if optional_modules is None:
        optional_modules = OPTIONAL_MODULES
    initrd = build_initramfs(kernel, busybox, modules, optional_modules,
                             init_script(tables, dmesg_words))
    if upgrade_tables:
        initrd = table_upgrade_cpio(upgrade_tables) + initrd
    initrd_path = workdir / f"initrd-{arch}.cpio"
    initrd_path.write_bytes(initrd)
    base, cmdline, memory = _base_argv(arch, qemu, workdir)
    argv = base + ["-m", memory, "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none",
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
    view = parse_console(out, seconds)
    view.argv = argv
    return view
