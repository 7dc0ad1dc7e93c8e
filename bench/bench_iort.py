"""IORT build and decode times against table size (spec issue 3 speed
targets), beside iasl's where one is installed.

    python bench/bench_iort.py [--sizes 10,100,1000,2000,10000]

Rows: N named components (each one mapping to an SMMUv3) built from YAML
(load + schema + compile + layout), and N root-complex ID mappings (3,000
per root complex, the most a 16-bit node Length holds) decoded. "cli" columns are whole processes (`acpitables build/decode`,
interpreter start-up and imports included), comparable to iasl's.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from acpitables import api


def nc_description(n: int) -> str:
    lines = ["table: IORT", "revision: 0", "nodes:",
             "- {name: smmu0, type: smmu_v3, event_gsiv: 1, pri_gsiv: 2, gerr_gsiv: 3, "
             "sync_gsiv: 4}"]
    for i in range(n):
        lines.append(f"- {{name: nc{i}, type: named_component, device_name: \\_SB_.D{i:03X}, "
                     f"memory_address_limit: 48, mappings: [{{input: 0, count: 1, output: smmu0, "
                     f"output_base: {i}}}]}}")
    return "\n".join(lines) + "\n"


def rc_description(n: int) -> str:
    """N ID mappings over as many root complexes (one per PCI segment) as
    the 16-bit node Length needs: at most 3,000 mappings per node."""
    lines = ["table: IORT", "revision: 0", "nodes:",
             "- {name: smmu0, type: smmu_v3, event_gsiv: 1, pri_gsiv: 2, gerr_gsiv: 3, "
             "sync_gsiv: 4}"]
    for seg, first in enumerate(range(0, n, 3000)):
        lines += [f"- name: rc{seg}", "  type: root_complex", "  memory_address_limit: 48",
                  f"  pci_segment_number: {seg}", "  mappings:"]
        lines += [f"  - {{input: {i * 16}, count: 16, output: smmu0}}"
                  for i in range(min(3000, n - first))]
    return "\n".join(lines) + "\n"


def iasl_source(n: int) -> str:
    """The same NC table in iasl's data-table language (revision 0)."""
    out = ['Signature : "IORT"', "Table Length : 00000000", "Revision : 00",
           "Checksum : 00", 'Oem ID : "ACPITB"', 'Oem Table ID : "ACPITBLS"',
           "Oem Revision : 00000001", 'Asl Compiler ID : "INTL"',
           "Asl Compiler Revision : 00000001", "", "Node Count : 00000000",
           "Node Offset : 00000030", "Reserved : 00000000", ""]
    for i in range(n):
        out += ["Type : 01", "Length : 0000", "Revision : 02", "Reserved : 00000000",
                "Mapping Count : 00000000", "Mapping Offset : 00000028",
                "Node Flags : 00000000", "Memory Properties : [IORT Memory Access Properties]",
                "Cache Coherency : 00000000", "Hints (decoded below) : 00",
                "Transient : 0", "Write Allocate : 0", "Read Allocate : 0", "Override : 0",
                "Reserved : 0000", "Memory Flags (decoded below) : 00", "Coherency : 0",
                "Device Attribute : 0", "Memory Size Limit : 30",
                f'Device Name : "\\\\_SB_.D{i:03X}"', "", "Input base : 00000000",
                "ID Count : 00000000", f"Output Base : {i:08X}", "Output Reference : 00000030",
                "Flags (decoded below) : 00000000", "Single Mapping : 0", ""]
    return "\n".join(out)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,2000,10000")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    iasl = shutil.which("iasl")
    cli = [sys.executable, "-c", "import sys; from acpitables.cli import run; run()"]
    print(f"{'N':>6} | {'NC build (api)':>14} {'NC build (cli)':>14} {'iasl compile':>12} | "
          f"{'RC decode (api)':>15} {'RC decode (cli)':>15} {'iasl -d':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            nc_yaml, rc_yaml = Path(tmp, f"nc{n}.yaml"), Path(tmp, f"rc{n}.yaml")
            nc_yaml.write_text(nc_description(n))
            rc_yaml.write_text(rc_description(n))
            build_api = timed(lambda: api.build(nc_yaml), 1 if n > 2000 else 3)
            build_cli = run(cli + ["build", str(nc_yaml), "-o", f"nc{n}.aml", "--force"], tmp)
            rc_blob = api.build(rc_yaml).data
            Path(tmp, f"rc{n}.aml").write_bytes(rc_blob)
            decode_api = timed(lambda: api.decode(rc_blob))
            decode_cli = run(cli + ["decode", f"rc{n}.aml", "-f", "text", "-o", "out.txt"], tmp)
            iasl_c = iasl_d = float("nan")
            if iasl:
                Path(tmp, f"nc{n}.dsl").write_text(iasl_source(n))
                iasl_c = run([iasl, f"nc{n}.dsl"], tmp) if n <= 2000 else float("nan")
                iasl_d = run([iasl, "-d", f"rc{n}.aml"], tmp)
            print(f"{n:>6} | {build_api:>13.3f}s {build_cli:>13.3f}s {iasl_c:>11.3f}s | "
                  f"{decode_api:>14.4f}s {decode_cli:>14.3f}s {iasl_d:>7.3f}s", flush=True)
    print("iasl compile is skipped above 2,000 nodes (quadratic); nan = no iasl.")


if __name__ == "__main__":
    main()
