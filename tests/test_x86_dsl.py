"""`decode -f dsl` for DMAR and IVRS: iasl's own template form.

For every DMAR and IVRS of ours (goldens, QEMU's tables under
tests/guest/data) and of ../shared/corpus/linuxhw, with each available iasl
(bookworm's 20200925 on PATH, trixie's 20250404 from tools/provision.sh):

- the source we write for that iasl's release compiles with it back to the
  same bytes, apart from what iasl always rewrites: the checksum (byte 9,
  recomputed) and the creator fields (bytes 28-35, its own "INTL" and
  release). Template source compiles with plain `iasl`; a table the
  release's template cannot express is written in the generic syntax
  (`iasl -G`) and must say why, for one of the stated iasl limitations;
- where we write the template, our label/value pairs equal those of that
  iasl's own `iasl -d` of the table, line for line (labels, order, values
  as printed; widths and bracketed comments aside).

The whole corpus runs per commit: the sweep (364 linuxhw tables, 1500 test
items, about 1100 iasl runs) took 21 s on the 2-core machine (61 s while
two other test suites ran on it). ACPITABLES_X86_DSL_SAMPLE=N keeps every
N-th linuxhw table only (goldens and QEMU tables always), for a quick run.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from acpitables import api
from acpitables.cli import app
from acpitables.errors import TableError
from acpitables.formats import dsl
from acpitables.formats import render
from test_dsl import IASLS

ROOT = Path(__file__).resolve().parents[1]
LINUXHW = ROOT.parent / "shared" / "corpus" / "linuxhw"
SAMPLE = max(1, int(os.environ.get("ACPITABLES_X86_DSL_SAMPLE") or 1))

# Why a release's template may not express a table: each is an iasl fact
# (acpitables/tables/dmar.py and ivrs.py, "what iasl writes differently").
LIMITS = re.compile("|".join([
    r"has no SoC Integrated Address Translation Cache structure",  # SATC < 20220331
    r"has no SoC Integrated Device Property structure",  # SIDP < 20250404
    r"has no IVHD type 40h",  # < 20210604
    r"has no ACPI HID device entry",  # < 20210604
    r"iasl writes zero into every field it labels Reserved",  # DRHD Size < 20250404, EFR2
    r"iasl writes a name \(with its NUL\) and nothing after it",  # padded ANDD name
    r"is not decoded \(kept as raw bytes\)",  # IVRS type 51h
    r"reads type 40h as an IVHD block",  # the 8-byte padding entry, >= 20210604
    r"without a UID: DtCompileIvrs reads the next line",
    r"an integer UID of \d+ bytes: iasl writes 8",
]))


def tables() -> list[Path]:
    out = sorted(ROOT.glob("golden/dmar/*/expected.aml")) + sorted(
        ROOT.glob("golden/ivrs/*/expected.aml"))
    out += sorted(ROOT.glob("tests/guest/data/*/DMAR.bin")) + sorted(
        ROOT.glob("tests/guest/data/*/IVRS.bin"))
    if LINUXHW.is_dir():
        corpus = sorted(p for p in LINUXHW.iterdir() if p.name.endswith(("__DMAR.bin",
                                                                          "__IVRS.bin")))
        out += corpus[::SAMPLE]
    return out


def ident(path: Path) -> str:
    return path.name if LINUXHW in path.parents else str(path.relative_to(ROOT).parent)


def _iasl(which: str) -> tuple[list[str], int]:
    argv, version, why = IASLS[which]
    if argv is None:
        pytest.skip(f"{which} iasl: {why}")
    assert version is not None, f"{which} iasl does not say its release"
    return argv, version


def _source(data: bytes, version: int) -> tuple[str, str | None]:
    """Our dsl for that release, and why it is generic (None: template)."""
    try:
        source = dsl.to_dsl(api.decode(data), version)
    except TableError as exc:  # header strings iasl cannot quote (real HP tables)
        assert "iasl string cannot" in str(exc), exc
        pytest.skip(f"iasl source cannot express it: {exc}")
    first = source.splitlines()[0]
    if "generic data-table syntax" not in first:
        assert f"ACPICA {version}'s template" in first, first
        return source, None
    reason = first.split("cannot express it (", 1)[-1]
    assert LIMITS.search(reason), f"generic for an unstated reason: {first}"
    return source, reason


def _run(argv: list[str], where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=where, timeout=60)


@pytest.mark.iasl
@pytest.mark.parametrize("which", sorted(IASLS))
@pytest.mark.parametrize("path", tables(), ids=ident)
def test_dsl_compiles_back_to_the_table(path, which, tmp_path):
    argv, version = _iasl(which)
    data = path.read_bytes()
    table = data[:api.decode(data).size]
    source, generic = _source(data, version)
    (tmp_path / "c.dsl").write_text(source)
    run = _run(argv + (["-G"] if generic else []) + ["c.dsl"], tmp_path)
    out = tmp_path / "c.aml"
    assert out.exists() and run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]
    # Nothing iasl only warned about and then changed (e.g. "Must be zero").
    assert not re.search(r"^(Warning|Error)\s+\d{4}", run.stdout, re.M), run.stdout[-3000:]
    built = out.read_bytes()
    assert len(built) == len(table), f"iasl wrote {len(built)} bytes, the table has {len(table)}"
    diff = [i for i in range(len(table)) if built[i] != table[i] and i != 9
            and not 28 <= i < 36]
    assert not diff, "bytes differ at " + ", ".join(f"0x{i:X}" for i in diff[:16])


LINE = re.compile(r"^(?:\[[^\]]*\])?\s*([^:\[\]]*?)\s+: (.*?)\s*$")


def pairs(text: str) -> list[tuple[str, str]]:
    """(label, value) of every field and flag line, up to iasl's raw dump;
    a value's bracketed comment ("0000 [Hardware Unit Definition]") aside."""
    out = []
    for line in text.splitlines():
        if "Raw Table Data" in line:
            break
        if line.lstrip().startswith(("/*", "*")):
            continue
        m = LINE.match(line)
        if m:
            out.append((m.group(1), re.sub(r"\s*\[.*\]$", "", m.group(2))))
    return out


@pytest.mark.iasl
@pytest.mark.parametrize("which", sorted(IASLS))
@pytest.mark.parametrize("path", tables(), ids=ident)
def test_template_matches_iasl_disassembly(path, which, tmp_path):
    argv, version = _iasl(which)
    data = path.read_bytes()
    source, generic = _source(data, version)
    if generic:
        pytest.skip(f"iasl {version}'s template cannot express it: {generic}")
    (tmp_path / "t.aml").write_bytes(data[:api.decode(data).size])
    _run(argv + ["-d", "t.aml"], tmp_path)
    theirs_text = (tmp_path / "t.dsl").read_text(errors="replace")
    # iasl's own complaints ("**** Unknown IVRS subtable type", "/**** ACPI
    # subtable terminates early"): it could not disassemble all of it.
    assert not re.search(r"^/?\*\*\*\*", theirs_text, re.M), theirs_text[-3000:]
    ours, theirs = pairs(source), pairs(theirs_text)
    assert len(theirs) > 20, theirs_text[:2000]
    for i, (mine, iasl) in enumerate(zip(ours, theirs)):
        assert mine == iasl, f"line pair {i}: ours {mine}, iasl -d {iasl}"
    assert len(ours) == len(theirs)


# --- the release facts, without iasl --------------------------------------------

def _golden(name: str) -> api.Decoded:
    return api.decode((ROOT / "golden" / name / "expected.aml").read_bytes())


def test_dmar_template_per_release():
    decoded = _golden("dmar/iasl-template")
    new = dsl.to_dsl(decoded, 20250404)
    # DRHD gfx: Size 4 with its log2 sub-line; scopes: Flags apart from Reserved.
    assert re.search(r"\[0001\] +Size \(decoded below\) : 04\n +Size \(pages, log2\) : 4\n", new)
    assert re.search(r"Entry Length : 08\n\[0001\] +Flags : 1F\n\[0001\] +Reserved : 00\n", new)
    # One PCI Path line per path entry; the two-hop endpoint has two.
    assert re.search(r"Entry Length : 0A\n(.*\n){4}\[0002\] +PCI Path : 1C,04\n"
                     r"\[0002\] +PCI Path : 00,00\n", new)
    assert '[000F]                        Device Name : "\\_SB.PCI0.I2C1"' in new
    assert "[000A]                           Reserved : 00 00 00 00 00 00 00 00 00 00" in new
    assert "INCLUDE_PCI_ALL" not in new  # iasl decodes no DMAR flags word
    # Before 20250404 iasl calls Size Reserved; 20220331 knows SATC, not SIDP;
    # 20200925 neither.
    old = dsl.to_dsl(decoded, 20220331).splitlines()[0]
    assert "generic data-table syntax" in old and "drhd0, size: size is 04" in old
    desc = yaml.safe_load((ROOT / "golden/dmar/iasl-template/input.yaml").read_text())
    del desc["structures"][0]["size"]
    sized0 = api.decode(api.build(desc).data)
    assert "sidp0, type: iasl 20220331 has no SoC Integrated Device Property" in \
        dsl.to_dsl(sized0, 20220331).splitlines()[0]
    assert "satc0, type: iasl 20200925 has no SoC Integrated Address Translation Cache" in \
        dsl.to_dsl(sized0, 20200925).splitlines()[0]


def test_dmar_old_scope_is_one_16_bit_reserved():
    decoded = api.decode((ROOT / "tests/guest/data/q35-intel-iommu/DMAR.bin").read_bytes())
    old = dsl.to_dsl(decoded, 20200925)
    assert re.search(r"Entry Length : 08\n\[0002\] +Reserved : 0000\n\[0001\] +Enumeration ID",
                     old)


def test_ivrs_template_per_release():
    decoded = _golden("ivrs/iasl-template")
    new = dsl.to_dsl(decoded, 20250404)
    assert re.search(r"\[0001\] +Subtable Type : 10\n\[0001\] +Flags \(decoded below\) : B0\n"
                     r" +HtTunEn : 0\n", new)
    # Data Setting 0xD7: iasl's seven sub-lines, bit 3 as Reserved, bits 4-5 System MGMT.
    assert re.search(r"Data Setting \(decoded below\) : D7\n +INITPass : 1\n +EIntPass : 1\n"
                     r" +NMIPass : 1\n +Reserved : 0\n +System MGMT : 1\n +LINT0 Pass : 1\n"
                     r" +LINT1 Pass : 1\n", new)
    assert '[0008]                           ACPI HID : "PNP0D40"' in new
    assert '[0008]                           ACPI CID : "PNP0C09"' in new
    assert "[0008]                           ACPI CID : 0000000000000000" in new
    assert "[0008]                                UID : 0000000000000001" in new
    assert '[0009]                                UID : "\\_SB.FUR0"' in new
    assert "Virtualization Info (decoded below)" not in new and "MSI Number" not in new
    old = dsl.to_dsl(decoded, 20200925).splitlines()[0]
    assert "iommu0_40h, type: iasl 20200925 has no IVHD type 40h" in old


def test_ivrs_before_20210604_has_the_old_entry_form():
    # The old template's only form of an 8-byte padding entry is Extended Data,
    # so all-kinds' 10h and 11h blocks alone (no 40h, no 51h) are expressible.
    desc = yaml.safe_load((ROOT / "golden/ivrs/all-kinds/input.yaml").read_text())
    desc["subtables"] = desc["subtables"][:2]
    built = api.decode(api.build(desc).data)
    old = dsl.to_dsl(built, 20200925)
    assert "generic" not in old.splitlines()[0]
    assert re.search(r"\[0001\] +Entry Type : 40\n\[0002\] +Device ID : 0000\n\[0001\] +Data "
                     r"Setting : 00\n\[0004\] +Extended Data : 00000000\n", old)
    assert "[0001]                              Flags : B0\n[0002]" in old
    new = dsl.to_dsl(built, 20250404).splitlines()[0]
    assert "8-byte padding entry (type 40h): iasl 20250404 reads type 40h as an IVHD" in new


def test_generic_fallback_names_the_first_obstacle():
    first = dsl.to_dsl(_golden("ivrs/all-kinds"), 20250404).splitlines()[0]
    assert "generic data-table syntax" in first
    # In table order: the 8-byte padding entry of the 10h block (entry 12:
    # each range is two entries).
    assert "iommu0_10h, devices.12: device entry 12 is an 8-byte padding entry" in first
    # A 40h block alone: its ACPI HID entry with a 2-byte integer UID.
    desc = yaml.safe_load((ROOT / "golden/ivrs/all-kinds/input.yaml").read_text())
    block = desc["subtables"][2]
    block["devices"] = [e for e in block["devices"] if e.get("pad") != 8]
    desc["subtables"] = [block]
    first = dsl.to_dsl(api.decode(api.build(desc).data), 20250404).splitlines()[0]
    assert "iommu0_40h, devices.13.uid: an integer UID of 2 bytes: iasl writes 8" in first


def test_cli_acpica_selects_the_dialect(tmp_path):
    runner = CliRunner()
    path = str(ROOT / "golden/dmar/iasl-template/expected.aml")
    for release, want in (("20250404", "ACPICA 20250404's template"),
                          ("20200925", "generic data-table syntax")):
        result = runner.invoke(app, ["decode", "-f", "dsl", "--acpica", release, path])
        assert result.exit_code == 0, result.output
        assert want in result.output.splitlines()[0]


def test_dmar_header_flags_are_decoded_below_in_text():
    text = render.text(_golden("dmar/iasl-template"))  # flags 0x05
    assert re.search(r"Flags \(decoded below\) : 05\n +Interrupt remapping : 1\n"
                     r" +x2APIC opt-out : 0\n +DMA control platform opt-in : 1\n", text)


def test_template_goldens_are_the_oracles():
    """golden/*/iasl-template/expected.aml as the packers of test_dmar.py and
    test_ivrs.py (struct.pack, no acpitables code) write them."""
    import test_dmar as D
    import test_ivrs as V

    dmar = D.dmar(0x2D, 0x05, [
        D.drhd(0, 0, 0xFED90000, [D.scope(D.EP, 0, [(2, 0)])], size=4),
        D.drhd(0, 0, 0xFED91000, [D.scope(D.BR, 0, [(0x1C, 0)]),
                                  D.scope(D.EP, 0, [(0x1C, 4), (0, 0)])]),
        D.drhd(1, 0, 0xFED92000, [D.scope(D.IOAPIC, 0xF0, [(0x1F, 0)], enum_id=2),
                                  D.scope(D.HPET, 0, [(0x1F, 0)]),
                                  D.scope(D.NS, 0, [(0x15, 0)], enum_id=1)]),
        D.rmrr(0, 0x3E2E0000, 0x3E2FFFFF, [D.scope(D.EP, 0, [(0x14, 0)]),
                                           D.scope(D.EP, 0, [(0x1A, 0)])]),
        D.atsr(1, 0, [D.scope(D.BR, 0, [(0x1C, 0)])]),
        D.rhsa(0xFED91000, 1),
        D.andd(1, rb"\_SB.PCI0.I2C1"),                    # no padding after the NUL
        D.satc(1, 0, [D.scope(D.EP, 0, [(2, 0)])]),
        D.sidp(0, [D.scope(D.EP, 0, [(2, 0)], flags=0x1F)]),
    ], revision=2, oem_id=b"INTEL ", oem_table_id=b"EDK2    ", creator=b"INTL",
        creator_revision=0x20200925)
    assert (ROOT / "golden/dmar/iasl-template/expected.aml").read_bytes() == dmar
    entries = [e for e in V._ENTRIES if e != V.pad8()]
    ivrs = V.ivrs(0x00203043, [
        V.ivhd10(0xB0, 0x0002, 0xFD200000, entries, feature=0x80048F6E),
        V.ivhd(0x11, 0xB0, 0x0002, 0xFD200000, entries, attributes=0x40200,
               efr=0x246577EFA2254AFA),
        V.ivhd(0x40, 0xB0, 0x0002, 0xFD200000, entries + [
            V.hid(V.bdf("00:14.5"), b"AMDI0020", rb"\_SB.FUR0", 2, setting=0x40),
            V.hid(V.bdf("00:13.0"), b"MSFT0201", (1).to_bytes(8, "little"), 1),
            V.hid(V.bdf("00:08.1"), b"PNP0D40\0", rb"\_SB.EC0_", 2, cid=b"PNP0C09\0"),
            V.dev4(1, 0)], attributes=0x40200, efr=0x246577EFA2254AFA),
        V.ivmd(0x20, 0x08, 0, 0, 0xCCD42000, 0x26000),
        V.ivmd(0x21, 0x07, V.bdf("00:14.0"), 0, 0x9C000000, 0x1000),
        V.ivmd(0x22, 0x01, V.bdf("00:12.0"), V.bdf("00:12.7"), 0x9D000000, 0x2000),
    ], oem_id=b"AMD   ", oem_table_id=b"AmdTable", creator=b"AMD ")
    assert (ROOT / "golden/ivrs/iasl-template/expected.aml").read_bytes() == ivrs
