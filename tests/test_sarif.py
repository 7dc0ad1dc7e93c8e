"""validate -f sarif: valid against OASIS's published SARIF 2.1.0 JSON
Schema (tests/data/sarif-schema-2.1.0.json, see tests/data/README.md), with
ruleId = code, level = severity, a byte-offset region for a binary table and
a line/column region for a description."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from acpitables.cli import app
from acpitables.formats import findings

from test_validate import GOOD, broken_table, unwalkable_table, warned_table

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
BAD_YAML = "table: VIOT\niommus:\n  - name: v\n    pci: '00:01.0'\nendpoints:\n  - bus: 1\n    iommu: w\n"


def sarif(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["validate", "-f", "sarif", *args], catch_exceptions=False)
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    return result.exit_code, log


def test_schema_copy_is_the_oasis_schema():
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator.check_schema(SCHEMA)


def test_the_validator_rejects_a_broken_log():
    """The schema check can fail: a result whose level is not a SARIF level."""
    _, log = sarif(str(GOOD))
    log["runs"][0]["results"] = [{"ruleId": "X", "level": "fatal", "message": {"text": "m"}}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(log)


@pytest.fixture
def files(tmp_path):
    out = {}
    for name, data in (("good.aml", GOOD.read_bytes()), ("warned.aml", warned_table()),
                       ("broken.aml", broken_table()[0]), ("unwalkable.aml", unwalkable_table())):
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    out["bad.yaml"] = tmp_path / "bad.yaml"
    out["bad.yaml"].write_text(BAD_YAML)
    return out


def test_good_table_has_no_results(files):
    code, log = sarif(str(files["good.aml"]))
    assert code == 0
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "acpitables"
    assert run["results"] == [] and run["invocations"][0]["executionSuccessful"] is True


def test_table_results_have_byte_offset_regions(files):
    code, log = sarif(str(files["broken.aml"]), str(files["warned.aml"]))
    assert code == 1
    run = log["runs"][0]
    _, pos = broken_table()
    rules = run["tool"]["driver"]["rules"]
    error = next(r for r in run["results"] if r["level"] == "error")
    assert rules[error["ruleIndex"]]["id"] == error["ruleId"]
    loc = error["locations"][0]["physicalLocation"]
    assert loc["region"] == {"byteOffset": pos}
    assert run["artifacts"][loc["artifactLocation"]["index"]]["location"]["uri"] == \
        loc["artifactLocation"]["uri"]
    assert loc["artifactLocation"]["uri"].endswith("broken.aml")
    warning = next(r for r in run["results"] if r["properties"]["input"].endswith("warned.aml"))
    assert warning["level"] == "warning"
    assert warning["locations"][0]["physicalLocation"]["region"] == {"byteOffset": 40}


def test_description_results_have_line_column_regions(files):
    code, log = sarif(str(files["bad.yaml"]))
    assert code == 1
    result = next(r for r in log["runs"][0]["results"] if "'w'" in r["message"]["text"])
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 7 and region["startColumn"] >= 1
    assert result["level"] == "error"


def test_unreadable_input_is_a_tool_notification(files, tmp_path):
    code, log = sarif(str(files["good.aml"]), str(tmp_path / "missing.aml"))
    assert code == 1
    inv = log["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert "missing.aml" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_rules_take_help_text_from_the_code_reference():
    reference = ("# Findings\n\n| code | severity | meaning |\n|---|---|---|\n"
                 "| `VIOT-RANGE-INVERTED` | error | BDF start above BDF end. Linux matches "
                 "nothing. |\n\n## IORT-MAP-OVERLAP\n\nTwo ID mappings overlap.\nLinux takes "
                 "the first.\n\n## Other\n")
    helps = findings.rule_help(reference)
    assert helps["VIOT-RANGE-INVERTED"] == "error BDF start above BDF end. Linux matches nothing."
    assert helps["IORT-MAP-OVERLAP"] == "Two ID mappings overlap. Linux takes the first."
    from acpitables.batch import Report
    from acpitables.errors import Diagnostic
    report = Report("t.aml", "t.aml", findings=[Diagnostic("error", "inverted",
                                                           code="VIOT-RANGE-INVERTED")])
    log = json.loads(findings.render_sarif([report], "0", reference))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    [rule] = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "VIOT-RANGE-INVERTED"
    assert rule["help"]["text"].endswith("Linux matches nothing.")


def test_table_inside_acpidump_text_has_a_logical_location_not_a_byte_offset(tmp_path):
    """Offsets inside acpidump text are the table's, not the file's."""
    from acpitables.formats import acpidump
    path = tmp_path / "machine.txt"
    path.write_text(acpidump.format_table("VIOT", broken_table()[0]))
    code, log = sarif(str(path))
    assert code == 1
    error = next(r for r in log["runs"][0]["results"] if r["level"] == "error")
    location = error["locations"][0]
    assert "region" not in location["physicalLocation"]
    assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("VIOT/")
    assert error["properties"]["offset"] == broken_table()[1]


def test_rule_help_comes_from_the_rule_registry_without_the_docs():
    """An installed package has no docs/findings.md: the rules' help is the
    registry's summary, severity and source."""
    from acpitables.batch import Report
    from acpitables.errors import Diagnostic
    report = Report("t.aml", "t.aml", findings=[Diagnostic("error", "inverted",
                                                           code="VIOT-RANGE-INVERTED")])
    log = json.loads(findings.render_sarif([report], "0"))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    [rule] = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "VIOT-RANGE-INVERTED"
    assert "error" in rule["help"]["text"] and "viot" in rule["help"]["text"].lower()
    assert rule["shortDescription"]["text"]
