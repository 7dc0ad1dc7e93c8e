"""Bad descriptions and their exact messages (file:line:col: path: message),
located warnings for what Linux tolerates, and the YAML loading rules."""
from __future__ import annotations

import time

import textwrap

import pytest

from acpitables import api
from acpitables.errors import DescriptionError
from acpitables.engine.registry import TABLES

HEAD = """\
table: VIOT
iommus:
  - name: viommu
    pci: "00:02.0"
endpoints:
"""  # endpoints start on line 6, an item's first key at column 5

ALLOWED = ("name, iommu, first, last, count, bus, buses, segment, segments, endpoint, mmio, "
           "reserved, extra, length")

BAD = {
    # --- schema --------------------------------------------------------------
    "unknown key": (HEAD + "  - bus: 1\n    iommu: viommu\n    bogus: 1\n", [
        f"board.yaml:8:5: endpoints[0].bogus: unknown key 'bogus' (allowed here: {ALLOWED})"]),
    "wrong type": (HEAD + "  - bus: one\n    iommu: viommu\n", [
        "board.yaml:6:10: endpoints[0].bus: 'one' is not of type integer"]),
    "missing iommu": (HEAD + "  - bus: 1\n", [
        "board.yaml:6:5: endpoints[0]: missing required key 'iommu'"]),
    "oem_id too long": ("table: VIOT\noem_id: TOOLONGID\n", [
        "board.yaml:2:9: oem_id: 'TOOLONGID' is 9 characters; the field holds 6"]),
    "bad BDF pattern": (HEAD + "  - first: '00:02'\n    last: '00:03.0'\n    iommu: viommu\n", [
        "board.yaml:6:12: endpoints[0].first: '00:02' is not a PCI address "
        "(write \"bb:dd.f\" or \"ssss:bb:dd.f\")"]),
    "both last and count": (HEAD + "  - first: '00:02.0'\n    last: '00:03.0'\n    count: 4\n"
                            "    iommu: viommu\n", [
        "board.yaml:6:5: endpoints[0]: give only one of 'last', 'count'"]),
    "no range at all": (HEAD + "  - iommu: viommu\n", [
        "board.yaml:6:5: endpoints[0]: missing one of 'first', 'bus', 'buses', 'mmio'"]),
    "iommu both pci and mmio": ("table: VIOT\niommus:\n  - name: v\n    pci: '00:01.0'\n"
                                "    mmio: 0x1000\n", [
        "board.yaml:3:5: iommus[0]: give only one of 'pci', 'mmio'"]),
    "segment on an mmio endpoint": (HEAD + "  - mmio: 0x1000\n    endpoint: 1\n    segment: 1\n"
                                    "    iommu: viommu\n", [
        "board.yaml:8:5: endpoints[0].segment: 'segment' is not allowed here: An MMIO endpoint "
        "takes mmio and endpoint (no segment)."]),
    "bus above 0xff": (HEAD + "  - bus: 0x100\n    iommu: viommu\n", [
        "board.yaml:6:10: endpoints[0].bus: 0x100 is above the maximum 0xff"]),
    "unknown table": ("table: VIOX\n", [
        f"board.yaml:1:8: table: unknown table 'VIOX' (known: {', '.join(TABLES)})"]),
    "not hex": ("table: VIOT\nreserved: zz\n", [
        "board.yaml:2:11: reserved: 'zz' is not a string of hex bytes"]),
    "not a mapping": ("- VIOT\n", [
        "board.yaml:1:1: (top): a description is a mapping with a 'table' key"]),
    # --- semantic ------------------------------------------------------------
    "unknown IOMMU name": (HEAD + "  - bus: 1\n    iommu: nope\n", [
        "board.yaml:7:12: endpoints[0].iommu: unknown IOMMU 'nope' (known: viommu)"]),
    "endpoint IDs past 32 bits": (HEAD + "  - bus: 2\n    endpoint: 0xffffff01\n"
                                  "    iommu: viommu\n", [
        "board.yaml:7:15: endpoints[0].endpoint: error[VIOT-ENDPOINT-OVERFLOW]: endpoint IDs run up to 0x100000000, past 32 bits"]),
    "endpoint IDs past 32 bits by segments": (HEAD + "  - segments: [0, 0xffff]\n"
                                              "    first: '00:00.0'\n    count: 0x10000\n"
                                              "    endpoint: 1\n    iommu: viommu\n", [
        "board.yaml:9:15: endpoints[0].endpoint: error[VIOT-ENDPOINT-OVERFLOW]: endpoint IDs run up to 0x100000000, past 32 bits"]),
    "inverted BDF range": (HEAD + "  - first: '00:03.0'\n    last: '00:02.0'\n"
                           "    iommu: viommu\n", [
        "board.yaml:7:11: endpoints[0].last: error[VIOT-RANGE-INVERTED]: BDF range 00:03.0..00:02.0 is inverted "
        "(Linux matches nothing)"]),
    "inverted bus range": (HEAD + "  - buses: [0x20, 0x10]\n    iommu: viommu\n", [
        "board.yaml:6:12: endpoints[0].buses: bus range 0x20..0x10 is inverted"]),
    "inverted segment range": (HEAD + "  - segments: [3, 1]\n    bus: 1\n    iommu: viommu\n", [
        "board.yaml:6:15: endpoints[0].segments: error[VIOT-SEGMENTS-INVERTED]: segment range 0x3..0x1 is inverted "
        "(Linux matches nothing)"]),
    "device number above 31": (HEAD + "  - first: '00:20.0'\n    count: 1\n    iommu: viommu\n", [
        "board.yaml:6:12: endpoints[0].first: '00:20.0': device number 0x20 is above 0x1F"]),
    "segment disagrees (iommu)": ("table: VIOT\niommus:\n  - name: v\n    pci: '0001:00:02.0'\n"
                                  "    segment: 2\n", [
        "board.yaml:5:14: iommus[0].segment: segment 0x2 disagrees with the address's segment 0x1"]),
    "segment disagrees (range)": (HEAD + "  - first: '0001:00:02.0'\n    count: 2\n"
                                  "    segment: 2\n    iommu: viommu\n", [
        "board.yaml:8:14: endpoints[0].segment: segment 0x2 disagrees with the address's segment "
        "0x1"]),
    "first and last in different segments": (HEAD + "  - first: '0001:00:00.0'\n"
                                             "    last: '0002:00:01.0'\n    iommu: viommu\n", [
        "board.yaml:7:11: endpoints[0].last: first and last name different segments; use "
        "segments: [first, last]"]),
    "duplicate names": ("table: VIOT\niommus:\n  - name: viommu\n    pci: '00:02.0'\n"
                        "  - name: viommu\n    pci: '00:03.0'\n", [
        "board.yaml:5:11: iommus[1].name: name 'viommu' is already used by iommus[0]"]),
    "count past 0xFFFF": (HEAD + "  - first: 'ff:1f.0'\n    count: 16\n    iommu: viommu\n", [
        "board.yaml:7:12: endpoints[0].count: 16 IDs from ff:1f.0 do not fit the 16-bit "
        "requester-ID space"]),
    "unknown name in order": (HEAD + "  - name: r\n    bus: 1\n    iommu: viommu\n"
                              "order: [viommu, r, ghost]\n", [
        "board.yaml:9:20: order[2]: unknown node 'ghost'"]),
    "order leaves a node out": (HEAD + "  - name: r\n    bus: 1\n    iommu: viommu\n"
                                "order: [r]\n", [
        "board.yaml:9:8: order: order leaves out viommu"]),
    "wrong reserved size": (HEAD + "  - bus: 1\n    iommu: viommu\n"
                            "    reserved: {reserved: '00'}\n", [
        "board.yaml:8:26: endpoints[0].reserved.reserved: reserved is 6 bytes, 1 given"]),
    # --- several problems at once ---------------------------------------------
    "several problems": (HEAD + "  - bus: 1\n    iommu: nope\n  - buses: [5, 4]\n"
                         "    iommu: viommu\n    colour: red\n"
                         "  - first: '00:20.0'\n    count: 1\n    iommu: viommu\n", [
        "board.yaml:7:12: endpoints[0].iommu: unknown IOMMU 'nope' (known: viommu)",
        "board.yaml:8:12: endpoints[1].buses: bus range 0x5..0x4 is inverted",
        f"board.yaml:10:5: endpoints[1].colour: unknown key 'colour' (allowed here: {ALLOWED})",
        "board.yaml:11:12: endpoints[2].first: '00:20.0': device number 0x20 is above 0x1F"]),
    "several semantic problems": (HEAD + "  - bus: 1\n    iommu: nope\n"
                                  "  - first: 'ff:1f.0'\n    count: 16\n    iommu: viommu\n", [
        "board.yaml:7:12: endpoints[0].iommu: unknown IOMMU 'nope' (known: viommu)",
        "board.yaml:9:12: endpoints[1].count: 16 IDs from ff:1f.0 do not fit the 16-bit "
        "requester-ID space"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_description_messages(name):
    text, expected = BAD[name]
    with pytest.raises(DescriptionError) as info:
        api.build(text, "board.yaml")
    assert [str(p) for p in info.value.problems] == expected
    assert str(info.value) == "\n".join(expected)


def test_there_are_at_least_15_bad_descriptions():
    assert len(BAD) >= 15


def test_problems_carry_their_location():
    with pytest.raises(DescriptionError) as info:
        api.build(BAD["unknown IOMMU name"][0], "board.yaml")
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.col, problem.path) == (
        "board.yaml", 7, 12, "endpoints[0].iommu")
    assert problem.severity == "error"


def test_build_from_a_path_names_the_file(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(BAD["unknown IOMMU name"][0])
    with pytest.raises(DescriptionError) as info:
        api.build(path)
    assert str(info.value).startswith(f"{path}:7:12: endpoints[0].iommu: unknown IOMMU 'nope'")


# --- warnings: what Linux tolerates -------------------------------------------

def warnings_of(text: str) -> list[str]:
    return [str(w) for w in api.build(text, "board.yaml").warnings]


def test_range_containing_its_own_iommu_is_a_located_warning():
    assert warnings_of(HEAD + "  - bus: 0\n    iommu: viommu\n") == [
        "board.yaml:6:10: endpoints[0].bus: note[VIOT-RANGE-OWN-IOMMU]: range contains its own IOMMU 0000:00:02.0; "
        "Linux never translates the IOMMU itself"]


def test_overlapping_ranges_are_a_located_warning():
    text = HEAD + "  - buses: [1, 4]\n    iommu: viommu\n  - bus: 3\n    iommu: viommu\n"
    assert warnings_of(text) == [
        "board.yaml:8:10: endpoints[1].bus: warning[VIOT-RANGE-OVERLAP]: range overlaps endpoints[0]; Linux lets the "
        "later node win"]


def test_ranges_in_different_segments_do_not_overlap():
    text = HEAD + ("  - buses: [1, 4]\n    iommu: viommu\n  - bus: 3\n    segment: 1\n"
                   "    iommu: viommu\n")
    assert warnings_of(text) == []


def test_unreferenced_iommu_is_a_warning():
    text = "table: VIOT\niommus:\n  - name: lonely\n    mmio: 0x1000\n"
    assert warnings_of(text) == [
        "board.yaml:3:5: iommus[0]: note[VIOT-IOMMU-UNREFERENCED]: IOMMU is not referenced by any endpoint"]


def test_duplicate_mmio_base_is_a_warning():
    text = HEAD + ("  - mmio: 0x1000\n    endpoint: 1\n    iommu: viommu\n"
                   "  - mmio: 0x1000\n    endpoint: 2\n    iommu: viommu\n")
    assert warnings_of(text) == [
        "board.yaml:9:11: endpoints[1].mmio: warning[VIOT-MMIO-DUPLICATE]: MMIO endpoint base 0x1000 is also "
        "endpoints[0]'s; Linux uses the later node"]


def test_raw_offset_reference_is_a_warning():
    text = HEAD + "  - bus: 1\n    iommu: 0x30\n"
    assert warnings_of(text)[0] == ("board.yaml:7:12: endpoints[0].iommu: warning: raw table "
                                    "offset 0x30 instead of an IOMMU name")


def test_warnings_ride_along_with_errors():
    text = HEAD + "  - bus: 1\n    iommu: viommu\n    length: 40\n  - bus: 2\n    iommu: nope\n"
    with pytest.raises(DescriptionError) as info:
        api.build(text, "board.yaml")
    assert [str(p) for p in info.value.problems] == [
        "board.yaml:10:12: endpoints[1].iommu: unknown IOMMU 'nope' (known: viommu)"]
    assert [str(w) for w in info.value.warnings] == [
        "board.yaml:8:13: endpoints[0].length: warning: explicit node length 40 instead of the "
        "computed one"]


# --- YAML loading rules ---------------------------------------------------------

def load(text: str):
    data, _ = api.load_description(text, "board.yaml")
    return data


def test_bdf_stays_a_string():
    data = load("a: 00:02.0\nb: 01:00\nc: 1:30:00\n")
    assert data == {"a": "00:02.0", "b": "01:00", "c": "1:30:00"}


def test_leading_zero_is_decimal():
    assert load("a: 010\nb: 0x10\nc: 0o10\nd: 0b10\ne: 1_000\nf: 0777\n") == {
        "a": 10, "b": 16, "c": 8, "d": 2, "e": "1_000", "f": 777}  # YAML 1.2 core schema


def test_yaml_1_1_booleans_stay_strings():
    assert load("a: yes\nb: off\nc: true\nd: y\n") == {"a": "yes", "b": "off", "c": True,
                                                         "d": "y"}


def test_unquoted_bdf_builds():
    text = "table: VIOT\niommus:\n  - name: v\n    pci: 00:02.0\nendpoints:\n  - bus: 010\n    iommu: v\n"
    data = api.build(text).data
    assert data[0x34:0x38] == bytes.fromhex("0000 1000")  # segment 0, BDF 00:02.0
    assert data[0x4C:0x50] == bytes.fromhex("000a ff0a")  # bus 10 (decimal), not 8


@pytest.mark.parametrize("text, message", [
    ("table: VIOT\ntable: VIOT\n",
     "board.yaml:2:1: duplicate key 'table' (first given at line 1)"),
    ("table: VIOT\niommus:\n  - name: a\n    pci: '00:01.0'\n    name: b\n",
     "board.yaml:5:5: duplicate key 'name' (first given at line 3)"),
])
def test_duplicate_keys_are_rejected_with_position(text, message):
    with pytest.raises(DescriptionError) as info:
        api.build(text, "board.yaml")
    assert [str(p) for p in info.value.problems] == [message]


@pytest.mark.parametrize("tag", ["!!python/object:os.system", "!!python/name:os.system",
                                 "!!python/object/apply:os.system", "!!set", "!!timestamp",
                                 "!custom"])
def test_non_plain_tags_are_refused(tag):
    with pytest.raises(DescriptionError) as info:
        load(f"table: VIOT\noem_id: {tag} x\n")
    [problem] = info.value.problems
    assert (problem.line, problem.col) == (2, 9)
    assert problem.message.startswith(f"tag '{tag}' is not allowed: a description holds plain "
                                      "data only")


def test_python_object_never_constructed(tmp_path):
    marker = tmp_path / "ran"
    text = f"table: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(DescriptionError):
        api.build(text, "board.yaml")
    assert not marker.exists()


def test_mappings_keep_line_and_column():
    data = load("table: VIOT\niommus:\n  - name: v\n    pci: '00:01.0'\n")
    assert data.key_mark("iommus") == (2, 1)
    assert data["iommus"].item_mark(0) == (3, 5)
    assert data["iommus"][0].value_mark("pci") == (4, 10)


def test_yaml_syntax_error_is_located():
    with pytest.raises(DescriptionError) as info:
        load("table: VIOT\n\toem_id: x\n")
    # The wording is the YAML parser's (libyaml's or PyYAML's); the place is ours.
    assert str(info.value).startswith("board.yaml:2:1: YAML: ")
    assert "tab" in str(info.value) or "\\t" in str(info.value)


def test_empty_description():
    with pytest.raises(DescriptionError) as info:
        api.build("", "board.yaml")
    assert str(info.value) == "board.yaml:1:1: (top): a description is a mapping with a 'table' key"


# --- hostile YAML: bounded time and memory ------------------------------------------

def test_billion_laughs_is_refused():
    lines = ["table: VIOT", 'l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines.append("order: [" + ",".join(["*l8"] * 9) + "]")
    with pytest.raises(DescriptionError) as info:
        api.build("\n".join(lines) + "\n", "board.yaml")
    assert str(info.value) == ("board.yaml:1:1: the description expands to more than 200000 "
                               "values (through YAML aliases?)")


@pytest.mark.parametrize("depth", [40, 900, 50_000])
def test_deep_nesting_is_refused(depth):
    # What we guarantee: a DescriptionError located on the nested line, in
    # bounded time. Who says it is not ours to pin: past ~1000 levels a
    # libyaml parser (PyYAML >= 6.0.4 wheels) refuses the flow level itself,
    # in its own words, before our guard sees the events.
    text = "table: VIOT\norder: " + "[" * depth + "]" * depth + "\n"
    start = time.monotonic()
    with pytest.raises(DescriptionError) as info:
        api.build(text, "board.yaml")
    assert time.monotonic() - start < 2.0
    [problem] = info.value.problems
    assert (problem.file, problem.line) == ("board.yaml", 2)
    assert 8 <= problem.col <= 8 + depth
    if depth == 40:  # well below any parser's own limit: our guard, our message
        assert str(problem) == "board.yaml:2:40: nesting deeper than 32 levels"


def test_recursive_alias_is_refused():
    with pytest.raises(DescriptionError) as info:
        api.build("a: &a [*a]\ntable: VIOT\n", "board.yaml")
    assert str(info.value).startswith("board.yaml:1:4: YAML: ")


def test_plain_aliases_still_work():
    text = ("table: VIOT\niommus:\n  - name: &v viommu\n    pci: '00:02.0'\nendpoints:\n"
            "  - bus: 1\n    iommu: *v\n")
    assert len(api.build(text).data) == 88


def test_huge_value_is_shown_short():
    text = "table: VIOT\noem_revision: [" + ", ".join(["1"] * 5000) + "]\n"
    with pytest.raises(DescriptionError) as info:
        api.build(text, "board.yaml")
    assert str(info.value) == "board.yaml:2:15: oem_revision: [1, 1, 1, 1, ...] is not of type integer"
