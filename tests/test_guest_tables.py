"""The tables QEMU generated for the guest suite (tests/guest/data: QEMU 11.1
RIMT, QEMU 7.2 DMAR and IVRS, dumped from /sys/firmware/acpi/tables inside
the guests) decode, and their descriptions build back to the same bytes;
the mapper answers for every function the guest saw, and a translated
function is one the guest put in an IOMMU group (tests/guest compares the
groups themselves with reconcile)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from acpitables import api
from acpitables.mapping import for_table
from acpitables.engine.pci import parse_bdf

DATA = Path(__file__).resolve().parent / "guest" / "data"
TABLES = sorted(DATA.glob("*/*.bin"))


@pytest.mark.parametrize("path", TABLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_qemu_guest_table_round_trips(path):
    data = path.read_bytes()
    decoded = api.decode(data)
    assert decoded.table.signature == path.stem
    assert not [f for f in decoded.warnings if f.severity == "error"], decoded.warnings
    rebuilt = api.build(api.describe(decoded)).data
    assert rebuilt == data


@pytest.mark.parametrize("path", TABLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_translated_functions_have_a_group_in_the_guest(path):
    mapper = for_table(api.decode(path.read_bytes()).table)
    groups = json.loads((path.parent / "groups.json").read_text())["devices"]
    translated = 0
    for bdf, seen in groups.items():
        segment, rid = parse_bdf(bdf)
        result = mapper.lookup(rid, segment or 0)
        if result.kind == "translated" and seen["driver"]:
            translated += 1
            assert seen["group"] is not None, f"{bdf}: {result}, but no group in the guest"
    assert translated, "no probed function is translated: the guest data says nothing"
