"""acpitables.formats.graph -- the topology as a picture.

topology (a decoded or compiled table, or a Devicetree mapper) -> a small
graph model (`Graph`: nodes with a role, edges with a label) -> Graphviz
DOT or Mermaid text; SVG/PNG through Graphviz's `dot`.

Nothing here knows a node kind by name: what a node is comes from its
declared role (engine/roles.py), what it points at from the references
in its fields, which IDs start where and which bypass from the table's
mapper (its segment maps). A new table draws without a change here.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..engine.registry import TABLES, role_of
from ..engine.table import Node, Ref, Table
from ..errors import Diagnostic, InputError

# role -> (DOT shape, fill colour, Mermaid node brackets)
STYLE = {
    "iommu": ("box3d", "#cfe2ff", ("[[", "]]")),
    "msi_controller": ("component", "#e2d9f3", ("[/", "/]")),
    "endpoint": ("box", "#d1e7dd", ("[", "]")),
    "bridge": ("cds", "#fff3cd", ("{{", "}}")),
    "other": ("note", "#eeeeee", ("[", "]")),
    "segment": ("folder", "#ffffff", ("[(", ")]")),
    "bypass": ("octagon", "#f8d7da", ("((", "))")),
}
MAX_SEGMENTS = 16        # segments drawn; the rest are summarised
MAX_RANGES = 4           # bypassed ranges listed on one edge


@dataclass
class GNode:
    id: str
    label: str
    role: str                                   # a key of STYLE
    findings: list[str] = field(default_factory=list)   # "severity[CODE]"


@dataclass
class GEdge:
    src: str
    dst: str
    label: str = ""
    bypass: bool = False


@dataclass
class Graph:
    title: str
    nodes: list[GNode] = field(default_factory=list)
    edges: list[GEdge] = field(default_factory=list)

    def node(self, ident: str) -> GNode | None:
        return next((n for n in self.nodes if n.id == ident), None)


# --- topology -> graph --------------------------------------------------------

def _label(node: Node) -> str:
    return node.name or (f"node@0x{node.offset:X}" if node.offset is not None else "node")


def _kind_label(table: Table, node: Node) -> str:
    spec = TABLES.get(table.signature)
    ntype = spec.node_types.get(node.type) if spec is not None and not node.raw else None
    return ntype.label if ntype is not None else f"type {node.type} node"


def _match_text(match: str | None, f: dict) -> str:
    """What a role's match key says about where a device finds the node."""
    def num(k: str, width: int = 0) -> str:
        v = f.get(k)
        return f"0x{v:0{width}X}" if isinstance(v, int) else "?"
    if _segment_key(match):
        return f"segment {f.get(match)}"
    if match == "device_name":
        return str(f.get(match, ""))
    if match == "segment_bdf_range":
        return (f"segment {f.get('segment_start')}..{f.get('segment_end')} "
                f"BDF {num('bdf_start', 4)}..{num('bdf_end', 4)}")
    if match == "base_address":
        return f"MMIO {num(match)}"
    if match == "pci_function":
        return f"PCI {f.get('segment')}:{num('bdf', 4)}"
    return ""


def _refs(value: Any) -> Iterable[tuple[str, Any, dict | None]]:
    """(field, reference, the array element holding it) in a node's fields."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, Ref):
                yield k, v, value
            elif isinstance(v, (list, dict)):
                yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


def _edge_label(key: str, elem: dict | None, top: bool) -> str:
    """An ID-mapping element reads as its input range and output base;
    any other reference by its field name."""
    if elem is None or top:
        return "" if top else key
    if "input_base" in elem and "id_count" in elem:       # IORT: id_count is count - 1
        base, count, out = elem["input_base"], elem["id_count"], elem.get("output_base", 0)
        if elem.get("flags", 0) & 1:
            return f"single -> 0x{out:X}"
        return f"0x{base:X}..0x{base + count:X} -> 0x{out:X}"
    if "source_id_base" in elem and "num_ids" in elem:    # RIMT: the field as written
        return (f"0x{elem['source_id_base']:X} (num_ids 0x{elem['num_ids']:X}) -> "
                f"0x{elem.get('dest_id_base', 0):X}")
    return key


def _segment_key(match: str | None) -> bool:
    """A role that finds a host bridge by one segment-number field
    (IORT pci_segment_number, RIMT pcie_segment_number, ...)."""
    return match is not None and match.endswith("segment_number")


def _ranges_text(spans: Sequence[Any]) -> str:
    parts = [f"0x{s.start:04X}" + (f"..0x{s.end:04X}" if s.end != s.start else "")
             for s in spans[:MAX_RANGES]]
    if len(spans) > MAX_RANGES:
        parts.append(f"+{len(spans) - MAX_RANGES} more")
    return "RID " + ", ".join(parts)


def from_table(table: Table, findings: Sequence[Diagnostic] = (), mapper: Any = None) -> Graph:
    """One table's topology. `mapper` (default: the table's own engine)
    supplies the segments and what bypasses in each."""
    oem = table.header.get("oem_id")
    oem = oem.decode("latin-1") if isinstance(oem, (bytes, bytearray)) else str(oem or "")
    g = Graph(f"{table.signature} {oem.strip(' ' + chr(0))}".strip())
    ids: dict[int, str] = {}
    by_name: dict[str, str] = {}
    by_offset: dict[int, str] = {}
    for i, n in enumerate(table.nodes):
        ident = f"n{i}"
        ids[id(n)] = ident
        if n.name:
            by_name[n.name] = ident
        if n.offset is not None:
            by_offset[n.offset] = ident
        role = role_of(table.signature, n)
        text = _match_text(role.match, n.fields) if not n.raw else ""
        label = f"{_label(n)}\n{_kind_label(table, n)}" + (f"\n{text}" if text else "")
        g.nodes.append(GNode(ident, label, role.kind.value))
    for d in findings:
        target = by_name.get(d.node or "") or (by_offset.get(d.offset) if d.offset is not None
                                               else None)
        gn = g.node(target) if target else None
        if gn is not None:
            gn.findings.append(f"{d.severity}[{d.code}]" if d.code else d.severity)
    for n in table.nodes:
        for key, ref, elem in _refs(n.fields):
            dst = by_name.get(ref.name) if ref.name is not None else by_offset.get(ref.offset)
            if ref.name is None and ref.offset == 0:
                continue                             # NULL: no parent
            top = elem is n.fields
            if dst is None:
                dst = f"missing{len(g.nodes)}"
                g.nodes.append(GNode(dst, f"{ref.name or f'0x{ref.offset:X}'}\n(no such node)",
                                     "other", ["error[dangling]"]))
            g.edges.append(GEdge(ids[id(n)], dst, _edge_label(key, elem, top)))
    if mapper is None:
        try:
            from ..mapping.acpi import for_table
            mapper = for_table(table)
        except InputError:
            mapper = None
    if mapper is not None:
        _segments(g, table, ids, mapper)
    return g


def _segments(g: Graph, table: Table, ids: dict[int, str], mapper: Any) -> None:
    """A node per PCI segment, edges to where its devices start, and what
    bypasses (from the mapper's segment map)."""
    starts = [(n, role_of(table.signature, n)) for n in table.nodes if not n.raw]
    starts = [(n, r) for n, r in starts
              if r.is_endpoint and (_segment_key(r.match) or r.match == "segment_bdf_range")
              and not r.msi_only]
    if not starts:
        return
    segs = mapper.segments()
    shown = segs[:MAX_SEGMENTS]
    for seg in shown:
        sid = f"seg{seg}"
        g.nodes.append(GNode(sid, f"PCI segment {seg}", "segment"))
        for n, r in starts:
            f = n.fields
            if _segment_key(r.match) and f.get(r.match) == seg:
                g.edges.append(GEdge(sid, ids[id(n)], "RID"))
            elif (r.match == "segment_bdf_range"
                  and f.get("segment_start", 1) <= seg <= f.get("segment_end", -1)):
                g.edges.append(GEdge(sid, ids[id(n)], _match_text(r.match, f).split(" BDF ")[-1]))
        bypass = [s for s in mapper.segment_map(seg).spans
                  if s.result.kind != "translated"]
        if bypass:
            bid = f"bypass{seg}"
            g.nodes.append(GNode(bid, "bypass\n(direct DMA)", "bypass"))
            g.edges.append(GEdge(sid, bid, _ranges_text(bypass), bypass=True))
    if len(segs) > len(shown):
        g.nodes.append(GNode("segmore", f"... {len(segs) - len(shown)} more segments", "segment"))


def from_dt(mapper: Any) -> Graph:
    """A Devicetree: each host bridge, its iommu-map/msi-map entries as
    edges to their targets (masks on the host), gaps as bypass."""
    from ..mapping.results import Translated
    g = Graph("Devicetree")
    targets: dict[str, str] = {}
    for i, h in enumerate(mapper.hosts):
        hid = f"h{i}"
        mask = h.iommu_map.mask
        g.nodes.append(GNode(hid, f"{h.path}\nhost bridge, segment {h.segment}"
                             + (f"\niommu-map-mask 0x{mask:X}" if mask != 0xFFFFFFFF else ""),
                             "endpoint"))
        for msi, dmap in ((False, h.iommu_map), (True, h.msi_map)):
            spans = dmap.id_map().spans
            for s in spans:
                r = s.result
                if isinstance(r, Translated):
                    tid = targets.get(r.iommu)
                    if tid is None:
                        tid = targets[r.iommu] = f"t{len(targets)}"
                        g.nodes.append(GNode(tid, r.iommu, "msi_controller" if msi else "iommu"))
                    g.edges.append(GEdge(hid, tid, f"{dmap.prop} 0x{s.start:X}..0x{s.end:X} "
                                         f"-> 0x{r.output_id:X}"))
            bypass = [s for s in dmap.rid_map().spans if s.result.kind != "translated"]
            if bypass and dmap.cells is not None:
                bid = f"b{i}{'m' if msi else 'i'}"
                g.nodes.append(GNode(bid, f"no {dmap.prop} entry\n({'no MSI domain' if msi else 'direct DMA'})",
                                     "bypass"))
                g.edges.append(GEdge(hid, bid, _ranges_text(bypass), bypass=True))
    return g


def merge(graphs: Sequence[Graph]) -> Graph:
    """Several tables of one machine side by side (ids kept apart)."""
    if len(graphs) == 1:
        return graphs[0]
    out = Graph(" + ".join(g.title for g in graphs))
    for k, g in enumerate(graphs):
        for n in g.nodes:
            out.nodes.append(GNode(f"t{k}_{n.id}", n.label, n.role, list(n.findings)))
        for e in g.edges:
            out.edges.append(GEdge(f"t{k}_{e.src}", f"t{k}_{e.dst}", e.label, e.bypass))
    return out


# --- graph -> text ------------------------------------------------------------

def _full_label(n: GNode) -> str:
    if not n.findings:
        return n.label
    return n.label + "\n" + "! " + ", ".join(sorted(set(n.findings)))


def _printable(text: str) -> str:
    # names and OEM IDs from a table may hold NULs or other control bytes
    return "".join(c if c.isprintable() or c == "\n" else "." for c in text)


def _dot_str(text: str) -> str:
    text = _printable(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: Graph) -> str:
    lines = [f"digraph {_dot_str(g.title)} {{", "  rankdir=LR;",
             '  node [style=filled, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for n in g.nodes:
        shape, fill, _ = STYLE.get(n.role, STYLE["other"])
        extra = ', color="#dc3545", penwidth=2' if n.findings else ""
        lines.append(f"  {n.id} [label={_dot_str(_full_label(n))}, shape={shape}, "
                     f'fillcolor="{fill}"{extra}];')
    for e in g.edges:
        attrs = [f"label={_dot_str(e.label)}"] if e.label else []
        if e.bypass:
            attrs += ["style=dashed", 'color="#dc3545"']
        lines.append(f"  {e.src} -> {e.dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_str(text: str) -> str:
    # Mermaid labels: quoted, line breaks as <br/>, quotes as entities
    text = _printable(text)
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(g: Graph) -> str:
    lines = ["flowchart LR"]
    for n in g.nodes:
        left, right = STYLE.get(n.role, STYLE["other"])[2]
        lines.append(f"  {n.id}{left}{_mermaid_str(_full_label(n))}{right}")
    for e in g.edges:
        arrow = "-.->" if e.bypass else "-->"
        lines.append(f"  {e.src} {arrow}" + (f"|{_mermaid_str(e.label)}|" if e.label else "")
                     + f" {e.dst}")
    for role, (_, fill, _) in STYLE.items():
        members = [n.id for n in g.nodes if n.role == role]
        if members:
            lines.append(f"  classDef {role} fill:{fill}")
            lines.append(f"  class {','.join(members)} {role}")
    flagged = [n.id for n in g.nodes if n.findings]
    if flagged:
        lines.append("  classDef finding stroke:#dc3545,stroke-width:3px")
        lines.append(f"  class {','.join(flagged)} finding")
    return "\n".join(lines) + "\n"


def dot_path() -> str | None:
    return shutil.which("dot")


def render(g: Graph, fmt: str) -> bytes:
    """SVG or PNG through Graphviz's dot."""
    if fmt not in ("svg", "png"):
        raise InputError(f"cannot render {fmt!r} (svg, png)")
    dot = dot_path()
    if dot is None:
        raise InputError("Graphviz's 'dot' is not installed: it draws SVG and PNG "
                         "(Debian/Ubuntu: apt-get install graphviz); -f dot and -f mermaid "
                         "need nothing")
    proc = subprocess.run([dot, f"-T{fmt}"], input=to_dot(g).encode(), capture_output=True,
                          timeout=120)
    if proc.returncode:
        raise InputError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


# --- any input -----------------------------------------------------------------

def from_input(path: str, compat: str | None = None, node: str | None = None) -> Graph:
    """What the tool reads (tables, a dump or directory, a description, a
    Devicetree) as one graph; findings marked on their nodes."""
    from pathlib import Path
    from .. import api
    from ..mapping import dt, io
    from . import sources
    if dt.is_dt(path):
        return from_dt(dt.mapper_from_file(path, compat or dt.DEFAULT_COMPAT, node))
    tables: list[tuple[Table, list[Diagnostic]]] = []
    try:
        if Path(path).suffix in (".yaml", ".yml"):
            raise InputError("a description")
        src = sources.read(path)
    except InputError as exc:
        # as mapping.io.open_mapper decides: a text file is a description
        if Path(path).suffix not in (".yaml", ".yml") and not (
                Path(path).is_file() and io._is_text(path)):
            raise InputError(f"{exc}; nor a Devicetree (.dts/.dtb) or a YAML description") \
                from None
        data, name = api.load_description(Path(path))
        table, _ = api.compile_description(data, name)
        io.place_nodes(table)
        spec = TABLES.get(table.signature)
        tables.append((table, list(spec.check(table)) if spec is not None else []))
    else:
        for _, blob in src.tables:
            decoded = api.decode(blob)
            tables.append((decoded.table, list(decoded.warnings)))
    return merge([from_table(t, f) for t, f in tables])
