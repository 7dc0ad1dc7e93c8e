"""Hostile descriptions (docs/hostile.md): only located DescriptionErrors,
never an untyped exception, and what build writes decode reads back.

The mutation and property tests draw new inputs every run from the seed
conftest prints in the header ("hostile-input seed: N"); a failure names
the seed and the input, and ACPITABLES_FUZZ_SEED=N replays it. The saved
reproducers under tests/data/hostile/ keep every class the fuzzing of
issue 9 found; the ones whose fix belongs to another module are strict
xfails naming their owner, so they flip when fixed.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from acpitables import api
from acpitables.errors import DescriptionError
from conftest import FUZZ_SEED, FUZZ_SEED_ENV

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import fuzz  # noqa: E402

DATA = ROOT / "tests" / "data" / "hostile"
REPLAY = f"(seed {FUZZ_SEED}: replay with {FUZZ_SEED_ENV}={FUZZ_SEED})"


def _seeds() -> list[str]:
    return fuzz.description_seeds([p.read_bytes() for p in sorted(ROOT.glob("golden/*/*/expected.aml"))])


def test_mutated_descriptions_fail_typed_and_located():
    rng = random.Random(FUZZ_SEED)
    seeds = _seeds()
    new, known, tried = [], [], 0
    deadline = time.monotonic() + 4.0
    with fuzz.address_space(1024):
        while tried < 400 and time.monotonic() < deadline:
            tried += 1
            text = fuzz.mutate_description(rng, fuzz.pick(rng, seeds), seeds)
            finding = fuzz.check_description(text)
            if finding is not None:
                (known if fuzz.known(finding) else new).append((tried, finding, text))
    print(f"{tried} mutated descriptions, {len(known)} known findings {REPLAY}")
    assert tried >= 20
    assert not new, (f"input {new[0][0]} {REPLAY}: {new[0][1]}\n--- input ---\n"
                     f"{new[0][2]!r}"[:4000])


# Plain data trees with YAML's own surprises in them: every scalar type,
# explicit tags on every kind of node, anchors reused.
_SCALARS = st.one_of(st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                     st.booleans(), st.none(), st.text(max_size=12),
                     st.sampled_from(["VIOT", "IORT", "00:02.0", "viommu", "its_group",
                                      "smmu_v3", "root_complex", "named_component", "0x30"]))
_KEYS = st.sampled_from(["table", "revision", "oem_id", "iommus", "endpoints", "nodes", "name",
                         "pci", "type", "iommu", "bus", "buses", "mappings", "iommu_map",
                         "node_offset", "length", "reserved", "data", "order", "other_nodes",
                         "flags", "identifiers", "lenient", "x"])
_TREES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)), max_leaves=25)


def _to_yaml(value, tags: list[str], rng: random.Random) -> str:
    """Flow-style YAML of `value`, with a tag from `tags` before some nodes."""
    tag = f"{rng.choice(tags)} " if tags and rng.random() < 0.15 else ""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_to_yaml(v, tags, rng)}" for k, v in value.items())
        return f"{tag}{{{inner}}}"
    if isinstance(value, list):
        return f"{tag}[{', '.join(_to_yaml(v, tags, rng) for v in value)}]"
    if isinstance(value, str):
        return tag + '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(value, float):
        return tag + {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(repr(value), repr(value))
    if value is None or isinstance(value, bool):
        return tag + {True: "true", False: "false", None: "null"}[value]
    return tag + str(value)


@seed(FUZZ_SEED)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=st.sampled_from(["VIOT", "IORT"]), body=st.dictionaries(_KEYS, _TREES, max_size=6),
       tags=st.lists(st.sampled_from(fuzz.TAGS), max_size=3), salt=st.integers(0, 2 ** 32))
def test_generated_documents_fail_typed_and_located(table, body, tags, salt):
    body = {"table": table, **{k: v for k, v in body.items() if k != "table"}}
    text = "{" + ", ".join(f"{k}: {_to_yaml(v, tags, random.Random(salt))}"
                           for k, v in body.items()) + "}\n"
    with fuzz.address_space(1024):
        finding = fuzz.check_description(text)
    assert finding is None or fuzz.known(finding), f"{finding} {REPLAY}\n{text!r}"


# --- saved reproducers ----------------------------------------------------------------



# file, (line, col) of the one expected problem (None: only "located"), words it says
LOCATED = [
    ("tag-map-on-scalar.yaml", (2, 9), "'!!map' on a scalar"),
    ("tag-map-on-sequence.yaml", (2, 9), "'!!map' on a sequence"),
    ("tag-seq-on-scalar.yaml", (2, 9), "'!!seq' on a scalar"),
    ("tag-int-not-a-number.yaml", (2, 11), "not an integer"),
    ("tag-bool-3.yaml", (2, 11), "not true or false"),
    ("tag-float-y.yaml", (2, 11), "not a number"),
    ("float-past-the-bound.yaml", (2, 15), "not of type integer"),
    ("whole-float-revision.yaml", (2, 11), "0.0 is not of type integer"),
    ("whole-float-index.yaml", (4, 74), "1.0 is not of type integer"),
    ("not-utf8.yaml", (2, 9), "byte 0xFF is not UTF-8"),
    ("control-character.yaml", (2, 10), "U+0007"),
    ("unterminated-quote.yaml", (3, 1), "quoted scalar"),
    ("huge-decimal.yaml", (2, 15), "5000-digit integer"),
    pytest.param("table-as-mapping.yaml", (1, 8), ""),
    pytest.param("table-as-list.yaml", (1, 8), ""),
    pytest.param("encoder-message-unlocated.yaml", (6, 37), "does not fit the 8-bit flags word"),
    pytest.param("inf-in-flags.yaml", None, ""),
]


@pytest.mark.parametrize("name, where, words", LOCATED)
def test_reproducer_is_a_located_error(name, where, words):
    with fuzz.address_space(1024), pytest.raises(DescriptionError) as info:
        api.build(DATA / name)
    assert fuzz.located(info.value) is None, str(info.value)
    first = info.value.problems[0]
    assert first.file == str(DATA / name)
    if where is not None:
        assert (first.line, first.col) == where, str(first)
    assert words in first.message


@pytest.mark.parametrize("name", [
    pytest.param("node-offset-huge.yaml"),
    pytest.param("mapping-offset-huge.yaml"),
])
def test_reproducer_is_refused_in_bounded_memory(name, tmp_path):
    result = fuzz.run_cli(["build", str(DATA / name), "-o", str(tmp_path / "t.aml")],
                          memory_mb=512, timeout=30)
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"{DATA / name}:"), result.stderr


def test_reproducer_viot_length_override_builds_what_decode_reads():
    assert fuzz.check_description((DATA / "viot-length-override.yaml").read_text()) is None


def test_reproducer_viot_raw_offset_reference_maps_like_its_table(tmp_path):
    from acpitables.mapping.io import agree, open_mapper

    desc = DATA / "viot-raw-offset-reference.yaml"
    table = tmp_path / "t.aml"
    table.write_bytes(api.build(desc).data)
    assert agree(open_mapper(str(desc)), open_mapper(str(table))).ok


def test_build_stdin_not_utf8_is_located(tmp_path):
    # Under the C locale Python reads stdin with surrogateescape: bad bytes
    # arrive as lone surrogates, which libyaml cannot even encode.
    result = fuzz.run_cli(["build", "-", "-o", str(tmp_path / "t.aml")],
                          stdin=(DATA / "not-utf8.yaml").read_bytes(), env={"LC_ALL": "C"})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("<stdin>:2:9: byte 0xFF is not UTF-8"), result.stderr


@pytest.mark.parametrize("label", [
    pytest.param("{"),
    pytest.param("{segment:>99999999}"),
])
def test_export_dt_host_label_is_checked(label, tmp_path):
    golden = ROOT / "golden" / "iort" / "qemu-virt-rev5-rmr" / "expected.aml"
    result = fuzz.run_cli(["export-dt", str(golden), "--host-label", label, "-o",
                           str(tmp_path / "t.dts")], memory_mb=512, timeout=30)
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode in (1, 2), result.stderr  # refused as bad input or usage
    assert not (tmp_path / "t.dts").exists()


# --- the loader's rules, one by one ---------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("v: !!int 0x10", 16), ("v: !!int -7", -7), ("v: !!float 12", 12.0), ("v: !!float .inf", float("inf")),
    ("v: !!bool TRUE", True), ("v: !!null ~", None), ("v: !!str 12", "12"),
    ("v: !!seq [1]", [1]), ("v: !!map {a: 1}", {"a": 1}),
])
def test_explicit_tags_on_values_they_fit_still_load(text, value):
    from acpitables.engine.yamlio import load

    assert load(text + "\n")["v"] == value


@pytest.mark.parametrize("data, where", [
    ("table: VIOT\n".encode("utf-16"), None),  # UTF-16 with its BOM is YAML text
    (b"\xef\xbb\xbftable: VIOT\n", None),     # so is UTF-8 with a BOM
    (b"table: VIOT\n\n  x: \xc3\n", (3, 6)),  # a cut-off UTF-8 sequence
    (b"table: VIOT\noem_id: \xe9t\xe9\n", (2, 9)),  # Latin-1, not UTF-8
    ("table: VIOT\noem_id: a\udcffb\n", (2, 10)),  # surrogateescape'd stdin
    ("table: VIOT\n\x1b[31m: 1\n", (2, 1)),
])
def test_text_that_is_not_yaml_is_located(data, where):
    from acpitables.engine.yamlio import load

    if where is None:
        assert load(data, "board.yaml")["table"] == "VIOT"
        return
    with pytest.raises(DescriptionError) as info:
        load(data, "board.yaml")
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.col) == ("board.yaml", *where), str(problem)
    assert "\n" not in problem.message and "position" not in problem.message


def test_binary_tag_is_not_plain_data():
    with pytest.raises(DescriptionError) as info:
        api.build("table: VIOT\noem_id: !!binary QUJD\n", "board.yaml")
    assert str(info.value).startswith("board.yaml:2:9: tag '!!binary' is not allowed")
