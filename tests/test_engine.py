"""The declarative node model (engine/nodes.py) and what is derived from it.

A toy node kind declared in this file, and nowhere else, must build from
YAML, decode, describe, round-trip, appear in the schema, render as text
and be followed by the mapper. The bulk path for plain-integer arrays must
be taken and agree with interpreted construct. Generated files must be
current, and no module outside a table's own mentions its node kinds.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from acpitables.engine.fields import Int32ul, Int64ul, Struct

from acpitables import api
from acpitables.engine import description, nodes, schema
from acpitables.engine.checks import RULES, SEVERITIES
from acpitables.engine.nodes import Array, since
from acpitables.engine.roles import Role, RoleKind
from acpitables.errors import AcpiTablesError, DescriptionError
from acpitables.formats import render
from acpitables.tables import iort

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


# --- generated files ------------------------------------------------------------

def test_generated_schemas_and_findings_page_are_current():
    assert schema.stale() == [], "run: python3 -m acpitables.engine.schema --write"


def test_every_rule_has_a_code_severity_and_source():
    assert len(RULES) > 60
    for code, r in RULES.items():
        assert re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", code) and r.code == code
        assert r.severity in SEVERITIES and r.source and r.summary


def test_decoded_findings_carry_their_rule():
    blob = (ROOT / "golden" / "viot" / "arm-virt" / "expected.aml").read_bytes()
    [finding] = api.decode(blob).warnings
    assert (finding.code, finding.severity) == ("VIOT-RANGE-OWN-IOMMU", "note")
    assert finding.source == RULES["VIOT-RANGE-OWN-IOMMU"].source


def test_every_decoded_finding_has_a_declared_rule():
    tables = [p for p in CORPUS.rglob("*") if p.is_file() and p.read_bytes()[:4] in
              (b"IORT", b"VIOT")]
    if not tables:
        pytest.skip("no corpus")
    for path in tables:
        try:
            findings = api.decode(path.read_bytes()).warnings
        except AcpiTablesError:
            continue
        for f in findings:
            assert f.code in RULES and RULES[f.code].severity == f.severity, (path, f)
            assert f.source == RULES[f.code].source


def test_qemu_tables_have_only_notes():
    files = [p for p in (CORPUS / "qemu").rglob("*") if p.is_file() and p.suffix != ".md"]
    if not files:
        pytest.skip("no QEMU corpus")
    for path in files:
        bad = [f for f in api.decode(path.read_bytes()).warnings if f.severity != "note"]
        assert bad == [], path


# --- the bulk path ----------------------------------------------------------------

def _iort_tables() -> list[bytes]:
    blobs = [p.read_bytes() for p in sorted((ROOT / "golden" / "iort").glob("*/expected.aml"))]
    blobs += [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file()
              and p.read_bytes()[:4] == b"IORT"]
    return blobs


def test_id_mappings_and_interrupts_have_a_struct_format():
    for elem in (iort.ID_MAPPING, iort.SMMU_INTERRUPT, iort.SMMU_GLOBAL_INTERRUPTS):
        names, fmt = nodes.fast_format(elem)
        assert names == tuple(s.name for s in elem.subcons)
        assert fmt.size == elem.sizeof()
    assert nodes.fast_format(iort.RMR_DESCRIPTOR) is None  # reserved bytes: interpreted


def test_the_bulk_path_is_taken(monkeypatch):
    """With interpreted construct disabled for ID mappings, a table with
    mappings still decodes and builds: the struct path does the work."""
    blob = (ROOT / "golden" / "iort" / "two-socket-server" / "expected.aml").read_bytes()
    decoded = api.decode(blob)

    def refuse(*args, **kwargs):
        raise AssertionError("interpreted construct used for an ID mapping")

    monkeypatch.setattr(iort.ID_MAPPING, "parse", refuse)
    monkeypatch.setattr(iort.ID_MAPPING, "build", refuse)
    again = api.decode(blob)
    assert any(n.fields.get("mappings") for n in again.table.nodes)
    assert again.table.nodes[-1].fields == decoded.table.nodes[-1].fields
    assert api.build(api.describe(again)).data == blob


def test_bulk_path_agrees_with_interpreted_construct_on_every_table():
    """Every plain-integer array of every golden and corpus IORT, parsed
    and built both ways, from the table's own bytes."""
    seen = 0
    for blob in _iort_tables():
        try:
            decoded = api.decode(blob)
        except Exception:  # noqa: BLE001 -- tables the walk refuses have no arrays to compare
            continue
        for node in decoded.table.nodes:
            kind = iort.NODE_TYPES.get(node.type)
            if node.raw or kind is None:
                continue
            raw = decoded.data[node.offset:node.offset + node.fields["length"]]
            placed = kind.place(node.fields)[0]
            for arr in kind.arrays:
                if arr.elem is None or arr.single:
                    continue
                off, size = placed[arr.key]
                n = size // arr.elem_size
                fast = nodes.parse_array(arr.elem, raw, off, n)
                slow = nodes.parse_array(arr.elem, raw, off, n, fast=False)
                assert fast == slow
                assert nodes.build_array(arr.elem, fast) == raw[off:off + size] == \
                    nodes.build_array(arr.elem, slow, fast=False)
                seen += n
    assert seen > 100


# --- issue 9: bounded builds, located encoder failures ----------------------------

HEAD = "table: IORT\nrevision: 5\nnodes:\n  - {name: its, type: its_group, identifiers: [0]}\n"


def _build_error(text: str) -> str:
    with pytest.raises(DescriptionError) as exc:
        api.build(text, "t.yaml")
    return str(exc.value)


def test_huge_node_offset_is_refused_before_allocating():
    text = "table: IORT\nnode_offset: 0xFFFFFFF0\nnodes:\n  - {type: its_group}\n"
    assert "the table would be 4294967" in _build_error(text)
    assert _build_error(text).startswith("t.yaml:2:14: node_offset: ")


def test_huge_mapping_offset_is_a_located_length_error():
    message = _build_error(HEAD + "  - {name: rc, type: root_complex, mapping_offset: 0xFFFFFFFF,"
                           " mappings: [{input: 0, count: 1, output: its}]}\n")
    assert message.startswith("t.yaml:5:5: nodes[1]: ")
    assert "Length field holds at most 65535" in message


def test_id_mappings_overflowing_the_node_length_say_so():
    maps = "".join(f"      - {{input: {i * 4}, count: 4, output: its}}\n" for i in range(8000))
    message = _build_error(HEAD + "  - name: rc\n    type: root_complex\n    mappings:\n" + maps)
    assert message.splitlines() == [
        "t.yaml:5:5: nodes[1]: the Root Complex node needs 160040 bytes (8000 mappings); its "
        "Length field holds at most 65535"]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "0x1FFFFFFFF", "-1", "1.5"])
def test_odd_flag_values_are_located_errors(value):
    text = HEAD + f"  - {{name: s, type: smmu_v3, flags: {{deviceid_valid: {value}}}}}\n"
    assert "t.yaml:5:" in _build_error(text)
    word = HEAD + f"  - {{name: s, type: smmu_v3, flags: {value}}}\n"
    assert "t.yaml:5:" in _build_error(word)


# --- the toy node kind --------------------------------------------------------------

TOY = 0x7E
TOY_REGS = Struct("base_address" / Int64ul * "Register base",
                  "stream_bits" / Int32ul * "Stream ID bits")


@pytest.fixture
def toy(monkeypatch):
    """A toy IOMMU kind: a revision-1 field, one more array (doorbells,
    plain u32s) and the ID mappings every IORT node has; an IOMMU whose
    mappings go to ITS groups. Root complexes may map to it."""
    kind = iort.iort_node(TOY, "toy_iommu", "Toy IOMMU", "this test", [
        since(0, "base_address" / Int64ul * "Register base"),
        since(0, "doorbell_count" / Int32ul * "Doorbell count"),
        since(1, "stream_bits" / Int32ul * "Stream ID bits"),
    ], (Array("doorbells", Int32ul, "doorbell_count", label="Doorbell"),), {}, "toy",
        Role(RoleKind.IOMMU, ("its_group",)))
    monkeypatch.setitem(iort.NODE_TYPES, TOY, kind)
    monkeypatch.setitem(iort.BY_KIND, "toy_iommu", kind)
    rc = iort.NODE_TYPES[iort.ROOT_COMPLEX]
    monkeypatch.setattr(rc, "role", rc.role._replace(targets=rc.role.targets + ("toy_iommu",)))
    description._validators.cache_clear()
    yield kind
    description._validators.cache_clear()


TOY_YAML = """\
table: IORT
revision: 5
nodes:
  - {name: its, type: its_group, identifiers: [7]}
  - name: toy
    type: toy_iommu
    revision: 1
    base_address: 0x9000000
    stream_bits: 16
    doorbells: [0x10, 0x20]
    mappings:
      - {input: 0, count: 0x10000, output: its}
  - name: rc
    type: root_complex
    memory_address_limit: 48
    iommu_map:
      - {rid_base: 0, iommu: toy, iommu_base: 0x100, length: 0x100}
"""


def test_toy_kind_builds_decodes_describes_and_round_trips(toy):
    built = api.build(TOY_YAML)
    blob = built.data
    # Its node, from the bytes: header, then the fixed part, doorbells, mappings.
    start = 48 + 24  # after the IORT header and an ITS group with one ID
    ntype, length, rev, ident, maps, map_off = struct.unpack_from("<BHBIII", blob, start)
    assert (ntype, rev, ident, maps) == (TOY, 1, 1, 1)
    assert struct.unpack_from("<QII", blob, start + 16) == (0x9000000, 2, 16)
    assert struct.unpack_from("<II", blob, start + 32) == (0x10, 0x20)
    assert map_off == 40 and length == 60
    assert struct.unpack_from("<IIIII", blob, start + 40) == (0, 0xFFFF, 0, 48, 0)
    decoded = api.decode(blob)
    node = decoded.table.nodes[1]
    assert node.kind is toy and node.name == "toy0"
    assert node.fields["doorbells"] == [0x10, 0x20] and node.fields["stream_bits"] == 16
    assert [f.code for f in decoded.warnings if f.severity != "note"] == []
    desc = api.describe(decoded)
    assert desc["nodes"][1] == {"name": "toy0", "type": "toy_iommu", "revision": 1,
                                "base_address": 0x9000000, "stream_bits": 16,
                                "doorbells": [0x10, 0x20],
                                "mappings": [{"input": 0, "count": 0x10000, "output": "its0"}]}
    assert api.build(render.as_yaml(desc, "iort.schema.json")).data == blob


def test_toy_kind_is_in_the_schema_and_the_text_view(toy):
    items = iort.schema_doc()["properties"]["nodes"]["items"]
    assert "toy_iommu" in items["properties"]["type"]["oneOf"][0]["enum"]
    [branch] = [b["then"] for b in items["allOf"]
                if b["if"]["properties"]["type"].get("const") == "toy_iommu"]
    assert {"base_address", "stream_bits", "doorbells", "mappings"} <= \
        set(branch["propertyNames"]["enum"])
    assert "doorbell_count" not in branch["propertyNames"]["enum"]  # computed
    with pytest.raises(DescriptionError, match="'span' is not a field of a revision-1 Toy IOMMU"):
        api.build(TOY_YAML.replace("stream_bits: 16", "span: 16"))
    text = render.text(api.decode(api.build(TOY_YAML).data))
    assert "/* toy0: Toy IOMMU */" in text
    assert re.search(r"\[058h 0088 008h\] +Register base : 0000000009000000", text)
    assert re.search(r"Doorbell : 00000020", text)


def test_toy_kind_is_followed_by_the_mapper(toy):
    from acpitables.mapping import for_table

    mapper = for_table(api.decode(api.build(TOY_YAML).data).table)
    result = mapper.lookup(0x05)  # RID 5 -> toy0 at 0x105 (then its0, as toy0 maps on)
    assert result.kind == "translated", result
    assert (result.iommu, result.output_id) == ("toy0", 0x105)


# --- kinds are named only where they are declared ---------------------------------

def _kind_tokens(table_module) -> tuple[set[str], set[str]]:
    """(identifiers, string values) that name a node kind of a table: its
    type-code constants and kind names as code, kind names and labels as
    strings. Comments and prose are not code."""
    names, strings = set(), set()
    for kind in table_module.NODE_TYPES.values():
        names.add(kind.kind)
        strings |= {kind.kind, kind.label}
    names |= {name for name, value in vars(table_module).items()
              if re.fullmatch(r"[A-Z][A-Z0-9_]+", name) and type(value) is int
              and value in table_module.NODE_TYPES}
    return names, strings


@pytest.mark.parametrize("table", ["iort", "viot", "dmar", "ivrs"])
def test_node_kinds_are_named_only_in_their_table_module(table):
    import ast
    import io
    import tokenize

    import importlib

    names, strings = _kind_tokens(importlib.import_module(f"acpitables.tables.{table}"))
    package = ROOT / "acpitables"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel == f"tables/{table}.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            hit = (tok.type == tokenize.NAME and tok.string in names) or (
                tok.type == tokenize.STRING and not tok.string.startswith(("f", "F"))
                and ast.literal_eval(tok.string) in strings)
            if hit:
                offenders.append(f"{rel}:{tok.start[0]}: {tok.line.strip()}")
    assert offenders == []
