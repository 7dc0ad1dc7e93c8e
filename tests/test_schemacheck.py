"""The compiled yes/no schema check against jsonschema (its oracle: a
separate implementation of Draft 7). Whenever the fast check says "valid",
jsonschema must find no error; it says "invalid" only where jsonschema finds
one (else build would explain nothing)."""
from __future__ import annotations

import copy
import glob
import random

import jsonschema
import pytest

from acpitables import api
from acpitables.engine.description import declared_schema, load_schema
from acpitables.engine.registry import TABLES
from acpitables.engine.schemacheck import compile_schema


def _strict():
    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
        "integer", lambda _c, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


def _descriptions(signature):
    out = []
    for path in sorted(glob.glob("/work/shared/corpus/**/*.bin", recursive=True)):
        data = open(path, "rb").read()
        if data[:4] != signature.encode():
            continue
        try:
            out.append(api.describe(api.decode(data)))
        except Exception:  # noqa: BLE001 -- tables we do not describe are not the point
            continue
        if len(out) >= 10:
            break
    return out


_ODD = ["named_component", "smmu_v3", "root_complex", "its_group", None, True, False, 0, -1, 1.0, 2.5, 2**64, "", "x y", "0x10", [], {}, [1], {"a": 1},
        float("nan")]


def _mutants(desc, rng, n):
    """Descriptions with one value replaced, one key added or removed."""
    paths = []

    def walk(obj, path):
        paths.append(path)
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, path + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, path + (i,))
    walk(desc, ())
    for _ in range(n):
        new = copy.deepcopy(desc)
        path = rng.choice(paths[1:])
        parent = new
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = rng.choice(_ODD)
        elif action < 0.8 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["bogus", "type", "name", 7, "flags"])] = rng.choice(_ODD)
        yield new


@pytest.mark.parametrize("signature", ["VIOT", "IORT"])
def test_fast_check_agrees_with_jsonschema(signature):
    name = TABLES[signature].schema
    schema = declared_schema(name) or load_schema(name)
    fast, oracle = compile_schema(schema), _strict()(schema)
    descs = _descriptions(signature)
    if not descs:
        pytest.skip("no corpus tables of this signature")
    rng = random.Random(11)
    checked = invalid = 0
    for desc in descs:
        assert fast(desc) and oracle.is_valid(desc)
        for mutant in _mutants(desc, rng, 20):
            expected = oracle.is_valid(mutant)
            assert fast(mutant) == expected, mutant
            checked += 1
            invalid += not expected
    assert invalid > checked // 10  # the mutants did reach the failing side
