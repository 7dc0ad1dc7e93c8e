"""graph: every golden and corpus table draws; SVG through Graphviz's dot
parses and has one node shape per graph node; Mermaid text is well formed."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables.cli import app
from acpitables.errors import InputError
from acpitables.formats import graph
from test_corpus import GOOD

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = sorted(ROOT.glob("golden/*/*/input.yaml"))
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")


def _svg_nodes(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")
            if g.get("class") == "node"]


@needs_dot
@pytest.mark.parametrize("path", GOLDEN + GOOD, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_svg_has_one_shape_per_node(path):
    g = graph.from_input(str(path))
    titles = _svg_nodes(graph.render(g, "svg"))
    assert sorted(titles) == sorted(n.id for n in g.nodes)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.parent.name)
def test_mermaid_structure(path):
    g = graph.from_input(str(path))
    lines = graph.to_mermaid(g).splitlines()
    assert lines[0] == "flowchart LR"
    declared = [re.match(r"  (\w+)[\[\(\{]", ln).group(1) for ln in lines[1:len(g.nodes) + 1]]
    assert declared == [n.id for n in g.nodes]
    edges = [ln for ln in lines if re.match(r"  \w+ -(\.)?-", ln)]
    assert len(edges) == len(g.edges)
    for ln in edges:
        src, dst = ln.split()[0], ln.split()[-1]
        assert src in declared and dst in declared


def test_two_socket_server_topology():
    # golden/iort/two-socket-server: rc0 -> smmu0 -> its0, rc1 -> smmu1 ->
    # its1, segments 0 and 1, one PMCG per SMMU.
    g = graph.from_input(str(ROOT / "golden/iort/two-socket-server/input.yaml"))
    roles = sorted(n.role for n in g.nodes)
    assert roles.count("iommu") == 2 and roles.count("msi_controller") == 2
    assert roles.count("endpoint") == 2 and roles.count("segment") == 2
    assert roles.count("bridge") == 2
    label = {n.id: n.label.split("\n")[0] for n in g.nodes}
    edges = {(label[e.src], label[e.dst], e.label) for e in g.edges}
    assert ("rc0", "smmu0", "0x0..0xFFFF -> 0x0") in edges
    assert ("PCI segment 1", "rc1", "RID") in edges


def test_viot_bypass_and_findings_marked():
    # examples/q35-virtio-iommu.yaml: ranges 0x0000..0x0FFF and
    # 0x3000..0xFFFF; the IOMMU at 0x0010 itself and 0x1000..0x2FFF bypass.
    g = graph.from_input(str(ROOT / "examples/q35-virtio-iommu.yaml"))
    bypass = [e for e in g.edges if e.bypass]
    assert [e.label for e in bypass] == ["RID 0x0010, 0x1000..0x2FFF"]
    assert any(n.findings for n in g.nodes)
    assert "stroke:#dc3545" in graph.to_mermaid(g)
    assert "penwidth=2" in graph.to_dot(g)


def test_devicetree_graph():
    from acpitables.mapping.dt import DtMapper
    m = DtMapper.from_entries(iommu_map=[(0x0, "smmu", 0x100, 0x100)], iommu_map_mask=0xFF)
    g = graph.from_dt(m)
    assert [n.role for n in g.nodes] == ["endpoint", "iommu"]
    assert g.edges[0].label == "iommu-map 0x0..0xFF -> 0x100"
    assert "iommu-map-mask 0xFF" in g.nodes[0].label


def test_missing_dot_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(graph, "dot_path", lambda: None)
    g = graph.from_input(str(ROOT / "examples/q35-virtio-iommu.yaml"))
    with pytest.raises(InputError, match="apt-get install graphviz"):
        graph.render(g, "svg")
    r = CliRunner().invoke(app, ["graph", str(ROOT / "examples/q35-virtio-iommu.yaml"), "-f", "svg"])
    assert r.exit_code == 1 and "graphviz" in r.output


def test_cli_dot_and_mermaid():
    for fmt, head in (("dot", "digraph"), ("mermaid", "flowchart LR")):
        r = CliRunner().invoke(app, ["graph", str(ROOT / "examples/qemu-virt-iort.yaml"), "-f", fmt])
        assert r.exit_code == 0 and r.output.startswith(head)


def test_no_node_kind_names_in_the_model():
    # the picture comes from roles and references, never from kind names
    src = (ROOT / "acpitables/formats/graph.py").read_text()
    for name in ("SMMU", "ITS", "Root Complex", "Named Component", "PMCG", "VirtIO"):
        assert name not in src


def test_readme_picture_is_the_corpus_table(corpus_dir):
    # docs/img/qemu-virt-iort-smmuv3.svg: `graph -f svg` of this corpus table
    table = corpus_dir / "qemu/history/aarch64-virt__IORT.smmuv3-dev__2025-09-16_d35146a6606c"
    g = graph.from_input(str(table))
    svg = (ROOT / "docs/img/qemu-virt-iort-smmuv3.svg").read_bytes()
    assert sorted(_svg_nodes(svg)) == sorted(n.id for n in g.nodes)
    assert "docs/img/qemu-virt-iort-smmuv3.svg" in (ROOT / "README.md").read_text()


def test_edge_labels_of_mapping_elements():
    # IORT: id_count is "number of IDs minus one", the range inclusive
    lab = graph._edge_label
    assert lab("output_reference", {"input_base": 0x100, "id_count": 0xFF, "output_base": 0x2000,
                                    "flags": 0}, False) == "0x100..0x1FF -> 0x2000"
    assert lab("output_reference", {"input_base": 0, "id_count": 0, "output_base": 7,
                                    "flags": 1}, False) == "single -> 0x7"
    # RIMT: the Number of IDs field as written
    assert lab("dest_offset", {"source_id_base": 0x10, "num_ids": 0x20, "dest_id_base": 0x30},
               False) == "0x10 (num_ids 0x20) -> 0x30"
    assert lab("output_node", None, True) == ""
    assert graph._segment_key("pcie_segment_number") and graph._segment_key("pci_segment_number")
    assert not graph._segment_key("device_name")
