"""The wheel carries the JSON Schemas, so an installed (non-editable)
acpitables finds them; the editable/source tree finds them in schemas/."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from acpitables.engine.description import load_schema, schema_path
from acpitables.engine.registry import TABLES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("signature", sorted(TABLES))
def test_schema_found_and_draft7(signature):
    spec = TABLES[signature]
    schema = load_schema(spec.schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert Path(schema_path(spec.schema)).is_file()


def test_wheel_contains_schemas(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                             str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here (no build backend reachable?): "
                    f"{result.stderr.strip()[-300:]}")
    wheel = next(tmp_path.glob("acpitables-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for spec in TABLES.values():
        member = f"acpitables/schemas/{spec.schema}"
        assert member in names
        shipped = json.loads(zipfile.ZipFile(wheel).read(member))
        assert shipped == json.loads((ROOT / "schemas" / spec.schema).read_text())


def test_wheel_is_typed_and_runs_as_a_module(tmp_path):
    """PEP 561: py.typed ships, so a user's mypy reads our annotations; and
    `python -m acpitables` has its __main__."""
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                             str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr.strip()[-300:]}")
    names = zipfile.ZipFile(next(tmp_path.glob("acpitables-*.whl"))).namelist()
    assert "acpitables/py.typed" in names
    assert "acpitables/__main__.py" in names
