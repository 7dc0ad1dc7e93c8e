"""What the speed work (issue 11) must not lose: plain descriptions past the
alias guard's bound load, and a VIOT command imports neither the IORT
declarations nor jsonschema."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from acpitables.engine import yamlio

ROOT = Path(__file__).resolve().parents[1]


def test_plain_values_past_the_alias_bound_load():
    # ~3 values per item: far more plain values than MAX_VALUES, no alias.
    n = yamlio.MAX_VALUES // 2
    text = "items:\n" + "".join(f"- {{a: {i}, b: {i}}}\n" for i in range(n))
    data = yamlio.load(text, "big.yaml")
    assert len(data["items"]) == n and data["items"][-1]["b"] == n - 1


def test_viot_commands_import_no_iort_nor_jsonschema(tmp_path):
    desc = tmp_path / "v.yaml"
    desc.write_text('table: VIOT\niommus:\n- name: viommu\n  pci: "00:02.0"\n'
                    "endpoints:\n- buses: [0x10, 0xff]\n  iommu: viommu\n")
    script = (
        "import sys\n"
        "from acpitables import api\n"
        f"b = api.build(open({str(desc)!r}).read(), 'v.yaml').data\n"
        "api.dump(api.decode(b), 'text')\n"
        "bad = [m for m in ('acpitables.tables.iort', 'jsonschema') if m in sys.modules]\n"
        "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
