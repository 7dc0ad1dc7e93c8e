"""The description loader (engine/yamlio.load) against an independent
oracle: PyYAML's own composer (yaml.compose with libyaml's parser) and the
YAML 1.2 core schema written out here from the spec (10.3.2; plus 0b
binary integers, the one extension yamlio documents). The loader builds
its data straight from the parser's events; this walks the composed node
graph instead, so the two share no code past the parser. Both the values
(type and repr, so 17 is not True and NaN compares) and every place (each
collection's, each key's, each value's, each item's line:col) must agree,
on every YAML file in the repo and on random documents (seed printed).
"""
from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest
import yaml

from acpitables.engine import yamlio
from acpitables.errors import DescriptionError
from conftest import FUZZ_SEED, FUZZ_SEED_ENV

ROOT = Path(__file__).resolve().parents[1]
REPLAY = f"(seed {FUZZ_SEED}: replay with {FUZZ_SEED_ENV}={FUZZ_SEED})"

# YAML 1.2.2, 10.3.2 (core schema), tried in this order; a plain scalar
# matching none is a string.
_NULL = re.compile(r"(?:null|Null|NULL|~|)\Z")
_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_INT10 = re.compile(r"[-+]?[0-9]+\Z")
_INT_BASES = ((re.compile(r"0o[0-7]+\Z"), 8), (re.compile(r"0x[0-9a-fA-F]+\Z"), 16),
              (re.compile(r"0b[01]+\Z"), 2))
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")


def _core(text: str):
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text[0] in "tT"
    if _INT10.match(text):
        return int(text, 10)
    for form, base in _INT_BASES:
        if form.match(text):
            return int(text[2:], base)
    if _FLOAT.match(text):
        return float(text)
    inf = _INF.match(text)
    if inf:
        return -math.inf if inf.group(1) == "-" else math.inf
    if _NAN.match(text):
        return math.nan
    return text


class _Composer(yaml.CSafeLoader):
    """Only composes: no implicit resolution, so a plain scalar keeps
    PyYAML's default tag and _tree decides what it means."""
    yaml_implicit_resolvers: dict = {}


def _at(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _tree(node) -> tuple:
    """The oracle's view: (kind, place, contents) from the node graph."""
    if isinstance(node, yaml.MappingNode):
        return ("map", _at(node), [(_tree(k), _at(k), _at(v), _tree(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return ("seq", _at(node), [(_at(item), _tree(item)) for item in node.value])
    value = _core(node.value) if not node.style else node.value  # plain, or quoted/block
    return ("scalar", type(value).__name__, repr(value))


def _view(data) -> tuple:
    """The loader's view, in the same shape, read through its public
    place API (mark, key_mark, value_mark, item_mark)."""
    if isinstance(data, yamlio.Mapping):
        return ("map", data.mark, [(_view(k), data.key_mark(k), data.value_mark(k), _view(v))
                                   for k, v in data.items()])
    if isinstance(data, yamlio.Sequence):
        return ("seq", data.mark, [(data.item_mark(i), _view(v)) for i, v in enumerate(data)])
    return ("scalar", type(data).__name__, repr(data))


def _untagged(text: str) -> bool:
    """No explicit tag on any node: those the oracle does not model (the
    loader's answers to them are pinned in test_descriptions and
    test_hostile_descriptions)."""
    return all(getattr(e, "tag", None) is None for e in yaml.parse(text, Loader=yaml.CSafeLoader))


def _agree(text: str, name: str) -> bool:
    """Assert the loader and the oracle agree; False if the loader refuses
    the text (then it must do so with a located DescriptionError)."""
    try:
        data = yamlio.load(text, name)
    except DescriptionError as exc:
        assert all(p.line and p.col for p in exc.problems), name
        return False
    assert _view(data) == _tree(yaml.compose(text, Loader=_Composer)), name
    return True


def _repo_yaml() -> list[Path]:
    files = {p for pattern in ("golden/**/*.yaml", "examples/**/*.yaml", "tests/data/**/*.yaml")
             for p in ROOT.glob(pattern)}
    return sorted(files)


@pytest.mark.parametrize("path", _repo_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repo_yaml_loads_as_the_oracle_reads_it(path):
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    try:
        untagged = _untagged(text)
    except (yaml.YAMLError, UnicodeError):
        untagged = False  # not YAML: the hostile files pin the loader's error
    if untagged:
        _agree(text, path.name)


def test_bench_descriptions_load_as_the_oracle_reads_them():
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import tables  # bench/tables.py: the generated descriptions speed.py builds
    for text in (tables.rc_mappings(300, 3), tables.named_components(100)):
        assert _agree(text, "bench.yaml")


# Scalars whose meaning differs between YAML 1.1 and 1.2, or between
# plain and quoted: each must come out as the 1.2 core schema says.
_TRICKY = ["0x1F", "0X1F", "0o17", "017", "0b101", "1_000", "1,000", "yes", "no", "on", "off",
           "y", "n", "~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE",
           "false", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "1.5e3", "1e3", "1.", ".5",
           ".inf", "-.Inf", "+.INF", ".NaN", ".nan", "-1", "+1", "-0x10", "00:02.0", "1:20",
           "190:20:30", "0.", "-.5e-3", "12e", "0x", "0o8", "007", "smmu0", "VIOT",
           "12345678901234567890123", "-", "=", "<<", "a b", "é", "x\\y"]


def _scalar(rng: random.Random) -> str:
    text = rng.choice(_TRICKY)
    style = rng.random()
    if style < 0.15:
        return "'" + text.replace("'", "''") + "'"
    if style < 0.25:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _flow(rng: random.Random, depth: int) -> str:
    if depth > 2 or rng.random() < 0.6:
        return _scalar(rng)
    if rng.random() < 0.5:
        return "[" + ", ".join(_flow(rng, depth + 1) for _ in range(rng.randrange(4))) + "]"
    keys = rng.sample(_KEYS, rng.randrange(4))
    return "{" + ", ".join(f"{k}: {_flow(rng, depth + 1)}" for k in keys) + "}"


_KEYS = ["name", "type", "a", "b", "0x10", "16", "'16'", "yes", "on", "ids", "x y", "'k'"]


def _block(rng: random.Random, indent: int, depth: int, anchors: list[str], lines: list[str],
           head: str) -> None:
    """Append a block node under `head` (a key line or a "- " item)."""
    pad = " " * indent
    roll = rng.random()
    props = ""
    if rng.random() < 0.1:
        name = f"a{len(anchors)}"
        props = f"&{name} "
    if depth > 3 or roll < 0.4:
        if anchors and rng.random() < 0.1:
            lines.append(f"{head} *{rng.choice(anchors)}")
        else:
            lines.append(f"{head} {props}{_flow(rng, 0)}")
            if props:
                anchors.append(props[1:-1])
        return
    lines.append(f"{head} {props}".rstrip())
    if roll < 0.7:
        for key in rng.sample(_KEYS, rng.randrange(1, 5)):
            _block(rng, indent + 2, depth + 1, anchors, lines, f"{pad}  {key}:")
    else:
        for _ in range(rng.randrange(1, 5)):
            _block(rng, indent + 2, depth + 1, anchors, lines, f"{pad}  -")
    if props:  # defined once closed: an alias inside would be recursive
        anchors.append(props[1:-1])


def _document(rng: random.Random) -> str:
    lines: list[str] = []
    anchors: list[str] = []
    for key in rng.sample(_KEYS, rng.randrange(1, 6)):
        _block(rng, 0, 0, anchors, lines, f"{key}:")
    return "\n".join(lines) + "\n"


def test_random_documents_load_as_the_oracle_reads_them():
    rng = random.Random(FUZZ_SEED)
    loaded = 0
    for i in range(300):
        text = _document(rng)
        try:
            ok = _agree(text, "random.yaml")
        except AssertionError:
            raise AssertionError(f"document {i} {REPLAY}:\n{text}") from None
        loaded += ok
    print(f"{loaded} of 300 random documents loaded {REPLAY}")
    assert loaded > 100


def test_places_survive_edits_of_the_loaded_data():
    # Compiles pop and re-add keys (dmar, ivrs): a place belongs to its key.
    data = yamlio.load("a: 1\nb:\n  - x\n  - y\nc: 3\n")
    data["a"] = data.pop("a")
    data["new"] = 4
    assert data.key_mark("a") == (1, 1) and data.value_mark("c") == (5, 4)
    assert data.key_mark("new") is None
    assert yamlio.locate(data, ("new",)) == (1, 1)
    data["b"].append("z")
    assert yamlio.locate(data, ("b", 2)) == (3, 3)  # the list's place: z was never in the text
    assert yamlio.locate(data, ("b", 1)) == (4, 5)


def test_aliases_share_and_keep_the_anchors_place():
    data = yamlio.load("base: &b {x: 1}\nfirst: *b\nsecond: *b\n")
    assert data["first"] is data["second"] is data["base"]
    assert data.value_mark("second") == (1, 7)  # the anchored node's place, as compose gives


def test_nesting_bound_needs_no_second_parse(monkeypatch):
    # The bound is kept in the one parse; the pre-parse is left for the
    # general path, which only documents needing it reach.
    monkeypatch.setattr(yamlio, "_check_nesting", lambda text: pytest.fail("second parse"))
    yamlio.load("a: " + "[" * yamlio.MAX_DEPTH + "]" * yamlio.MAX_DEPTH + "\n")


@pytest.mark.parametrize("depth", [yamlio.MAX_DEPTH + 1, yamlio.MAX_DEPTH + 2, 5000])
def test_deep_nesting_is_refused_located(depth):
    text = "[" * depth + "]" * depth + "\n"
    if depth <= yamlio.MAX_DEPTH + 1:
        assert yamlio.load(text) is not None  # 33 levels: the root and 32 below it
        return
    with pytest.raises(DescriptionError) as info:
        yamlio.load(text, "deep.yaml")
    [problem] = info.value.problems
    assert problem.message == f"nesting deeper than {yamlio.MAX_DEPTH} levels"
    assert (problem.line, problem.col) == (1, yamlio.MAX_DEPTH + 2)
