"""acpitables: description.py -- YAML platform descriptions.

Shared by every table: loading and JSON-Schema validation with located
messages, the SDT header fields and their defaults, node names and order,
and the escape hatches (reserved bytes, extra bytes, raw nodes, node
offset, padding, trailing bytes) that let any decoded table build back
byte for byte. Table modules turn the rest into nodes.
"""
from __future__ import annotations

import re
import reprlib
from dataclasses import replace
import os
from functools import lru_cache
from typing import Any, Iterable

from ..errors import DescriptionError, Diagnostic
from .fields import Bytes, Struct, leaf
from .table import HEADER_FIELDS, Node, Ref, Table
from .yamlio import Hex, format_path, locate, locate_key

HEADER_DEFAULTS = {"oem_id": "ACPITB", "oem_table_id": "ACPITBLS", "oem_revision": 1,
                   "creator_id": "ATBL", "creator_revision": 1}
TEXT_WIDTH = {"oem_id": 6, "oem_table_id": 8, "creator_id": 4}


class Problems:
    """Collects located errors and warnings while a description compiles."""

    def __init__(self, data: Any, filename: str):
        self.data, self.filename = data, filename
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.node_paths: dict[str, tuple] = {}
        self.weak: list[Diagnostic] = []  # generic schema errors a precise one may replace

    def _diag(self, severity: str, path: tuple, message: str, key: bool = False) -> Diagnostic:
        line, col = (locate_key if key else locate)(self.data, tuple(path))
        if not line:  # an empty document: point at its start
            line, col = 1, 1
        return Diagnostic(severity, message, file=self.filename, line=line, col=col,
                          path=format_path(tuple(path)) or "(top)")

    def error(self, path: tuple, message: str, key: bool = False, weak: bool = False) -> None:
        self.errors.append(self._diag("error", path, message, key))
        if weak:
            self.weak.append(self.errors[-1])

    def warning(self, path: tuple, message: str) -> None:
        self.warnings.append(self._diag("warning", path, message))

    def from_table(self, diags: Iterable[Diagnostic], field_keys: dict) -> None:
        """Re-locate table-level findings (node + field) at the description
        item that produced the node."""
        for diag in diags:
            path: tuple = ()
            if diag.node in self.node_paths:
                path = self.node_paths[diag.node]
                keys = field_keys.get(diag.field or "", diag.field)
                item = _get(self.data, path)
                # A field may stand under one of several keys (bus, buses, first...).
                found = [k for k in (keys if isinstance(keys, tuple) else (keys,))
                         if isinstance(item, dict) and k in item]
                deeper = _deepest(self.data, path, diag.field, field_keys)
                if len(deeper) > len(path) + 1:  # a dotted field: mappings.2.output_reference
                    path = deeper
                elif found:
                    path = path + (found[0],)
                elif isinstance(item, dict) and diag.field and "reserved" in item:
                    path = path + ("reserved",)
            elif diag.field in self.data if isinstance(self.data, dict) else False:
                path = (diag.field,)
            located = replace(self._diag(diag.severity, path, diag.message), code=diag.code,
                              source=diag.source)
            (self.errors if diag.severity == "error" else self.warnings).append(located)

    def raise_if_errors(self) -> None:
        if self.errors:
            unique: dict[tuple, Diagnostic] = {}
            for e in self.errors:
                unique.setdefault((e.line, e.col, e.message), e)
            self.errors = list(unique.values())
            key = lambda x: (x.line or 0, x.col or 0)  # noqa: E731
            raise DescriptionError(sorted(self.errors, key=key), sorted(self.warnings, key=key))


def _deepest(data: Any, path: tuple, field: str | None, field_keys: dict) -> tuple:
    """The longest prefix of a dotted field ("mappings.2.output_reference",
    each part renamed by field_keys) that exists under `path`."""
    for part in (field or "").split(".") if field and "." in field else ():
        step = int(part) if part.isdigit() else field_keys.get(part, part)
        if not isinstance(step, (int, str)) or _get(data, path + (step,)) is None:
            break
        path = path + (step,)
    return path


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


# --- schema ------------------------------------------------------------------

def schema_path(name: str) -> str:
    """The shipped schema: inside the installed package (a wheel carries
    schemas/ there), else the source tree's top-level schemas/. The
    package's directory is where this module's package lies, which is what
    importlib.resources.files("acpitables") names for an installed package
    (a file of a zipped one is no path for an editor's modeline either);
    importing importlib.resources (with zipfile and tempfile) cost ~10 ms a
    decode to YAML (issue 11), and os.path spares it pathlib."""
    package = os.path.dirname(os.path.dirname(__file__))
    packaged = os.path.join(package, "schemas", name)
    if os.path.isfile(packaged):
        return packaged
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    return os.path.join(top, "schemas", name)


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    import json
    with open(schema_path(name), encoding="utf-8") as fh:
        return json.load(fh)


def declared_schema(schema_name: str) -> dict | None:
    """The schema a registered table's declarations give (what the shipped
    file holds, a test says so): validation follows the declarations, so a
    table or node kind registered at run time validates too."""
    from .registry import TABLES  # noqa: PLC0415 -- the registry imports the table modules

    # The table of that name first: the registry imports a table's module on
    # lookup, and a VIOT build need not import the IORT declarations.
    guess = schema_name.split(".", 1)[0].upper()
    likely = [guess] if guess in TABLES else []
    for sig in likely + [s for s in TABLES if s not in likely]:
        spec = TABLES[sig]
        if spec.schema == schema_name and spec.schema_doc is not None:
            return spec.schema_doc()
    return None


def schema_problems(data: Any, schema_name: str, p: Problems) -> None:
    """Every schema error, located. Same verdicts as validating the whole
    schema at once; but a list whose items are constrained per kind
    (`allOf` of `if <key> is X then ...`) is checked item by item against
    the one branch that applies, instead of every branch for every item:
    what makes a description of thousands of nodes validate in linear time
    with a small constant.

    A compiled yes/no check answers first; jsonschema (and its import) is
    needed only to explain a description that fails it."""
    fast = _fast_check(schema_name)
    if fast is not None and fast(data):
        return
    validator, dispatch = _validators(schema_name)
    for err in validator.iter_errors(data):
        _report_schema_error(err, p)
    generic = len(p.errors)
    for key, branches in dispatch.items():
        items = data.get(key) if isinstance(data, dict) else None
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            for test, branch in branches:
                if test(item):
                    for err in branch.iter_errors(item):
                        err.path.extendleft((i, key))
                        _report_schema_error(err, p)
    # An unknown key is said once, with what this kind of item allows.
    specific = {e.path for e in p.errors[generic:]}
    p.errors[:generic] = [e for e in p.errors[:generic]
                          if not (e.path in specific and e.message.startswith("unknown key"))]


@lru_cache(maxsize=None)
def _fast_check(schema_name: str) -> Any:
    """engine.schemacheck's predicate for this schema, or None when the
    schema uses a keyword it does not implement (jsonschema then decides)."""
    from . import schemacheck  # noqa: PLC0415

    try:
        return schemacheck.compile_schema(declared_schema(schema_name) or load_schema(schema_name))
    except (schemacheck.Unsupported, KeyError, TypeError, re.error):
        return None


@lru_cache(maxsize=None)
def _validators(schema_name: str) -> tuple[Any, dict]:
    import copy

    import jsonschema

    schema = copy.deepcopy(declared_schema(schema_name) or load_schema(schema_name))
    validator_class = _strict_types()
    dispatch: dict[str, list] = {}
    for key, prop in schema.get("properties", {}).items():
        items = prop.get("items") if isinstance(prop, dict) else None
        branches = items.get("allOf") if isinstance(items, dict) else None
        if branches and isinstance(items, dict) and all(set(b) == {"if", "then"}
                                                         for b in branches):
            del items["allOf"]
            dispatch[key] = [(_if_test(b["if"]), validator_class(b["then"])) for b in branches]
    return validator_class(schema), dispatch


@lru_cache(maxsize=None)
def _strict_types() -> Any:
    """Draft 7 whose `integer` is a Python int: JSON Schema counts 1.0 (and
    1e30) as an integer, but the encoder packs ints, and a float index or
    count is no index or count."""
    import jsonschema

    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


def _if_test(condition: dict):
    """A predicate for an `if` schema; `{properties: {k: {const: v}}}` is
    answered by a dict lookup, anything else by a validator."""
    import jsonschema

    props = condition.get("properties", {})
    if set(condition) <= {"properties", "required"} and len(props) == 1:
        (key, sub), = props.items()
        if set(sub) == {"const"}:
            value = sub["const"]
            return lambda item: isinstance(item, dict) and key in item and item[key] == value \
                and type(item[key]) is type(value)
    check = _strict_types()(condition)
    return check.is_valid


def _report_schema_error(err: Any, p: Problems) -> None:
    path = tuple(err.absolute_path)
    if "propertyNames" in err.relative_schema_path and isinstance(err.instance, str):
        # A key this kind of item does not take (e.g. an SMMU field on a
        # named component); the semantic pass may say it more precisely.
        allowed = ", ".join(err.validator_value) if err.validator == "enum" else ""
        p.error(path + (err.instance,), f"unknown key {err.instance!r} here"
                + (f" (allowed: {allowed})" if allowed else ""), key=True, weak=True)
        return
    if err.validator == "additionalProperties":
        extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
        for k in extra:
            allowed = ", ".join(err.schema.get("properties", {}))
            p.error(path + (k,), f"unknown key {k!r} (allowed here: {allowed})", key=True)
        return
    if err.validator == "oneOf" and isinstance(err.instance, dict) and _required_only(err.validator_value):
        # Alternatives that differ only in which key is present: say which.
        keys = [k for alt in err.validator_value for k in alt["required"]]
        present = [k for k in keys if k in err.instance]
        listed = ", ".join(repr(k) for k in (present if len(present) > 1 else keys))
        p.error(path, f"give only one of {listed}" if len(present) > 1
                else f"missing one of {listed}")
        return
    if err.validator == "not" and isinstance(err.instance, dict):
        banned = [k for alt in err.validator_value.get("anyOf", [err.validator_value])
                  for k in alt.get("required", []) if k in err.instance]
        hint = err.schema.get("description", "")
        for k in banned or [None]:
            p.error(path + ((k,) if k else ()), f"{k!r} is not allowed here"
                    f"{': ' + hint if hint else ''}" if k else hint or err.message, key=bool(k))
        return
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Report the alternative that went furthest: the deepest sub-error.
        best = max(err.context, key=lambda e: (len(e.absolute_path), -len(e.message)))
        if best.validator == "required" or len(best.absolute_path) > len(err.absolute_path):
            _report_schema_error(best, p)
            return
        hint = err.schema.get("description", "")
        p.error(path, f"does not match any accepted form{': ' + hint if hint else ''}", weak=True)
        return
    if err.validator == "pattern":
        hint = err.schema.get("description", "")
        p.error(path, f"{_short(err.instance)} does not match the pattern {err.validator_value}"
                      f"{' (' + hint + ')' if hint else ''}", weak=True)
        return
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        p.error(path, f"missing required key {missing!r}")
        return
    if err.validator == "type":
        p.error(path, f"{_short(err.instance)} is not of type {err.validator_value}")
        return
    if err.validator == "maxLength":
        p.error(path, f"{err.instance!r} is {len(err.instance)} characters; the field holds "
                      f"{err.validator_value}")
        return
    if err.validator in ("maximum", "minimum"):
        where = "above the maximum" if err.validator == "maximum" else "below the minimum"
        p.error(path, f"{_number(err.instance)} is {where} {_number(err.validator_value)}")
        return
    p.error(path, err.message)


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 4, 4, 2


def _short(value: Any) -> str:
    """repr() for messages, cut short for big values."""
    if isinstance(value, list):  # yamlio's located subclasses -> what reprlib knows
        value = list(value)
    elif isinstance(value, dict):
        value = dict(value)
    return _REPR.repr(value)


def _number(value: Any) -> str:
    """A bound or a value in a message: ints in hex (fields are bit
    patterns), anything else (a float that got this far) as written, and
    numbers too long to read by their width."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:#x}" if value.bit_length() <= 128 else f"a {value.bit_length()}-bit number"
    return _short(value)


def _required_only(alternatives: Any) -> bool:
    return isinstance(alternatives, list) and bool(alternatives) and all(
        isinstance(a, dict) and set(a) == {"required"} for a in alternatives)


# --- header ------------------------------------------------------------------

def new_table(signature: str, desc: dict, p: Problems) -> Table:
    header: dict = {"revision": desc.get("revision", 0)}
    for key in HEADER_FIELDS[1:]:
        value = desc.get(key, HEADER_DEFAULTS[key])
        if key in TEXT_WIDTH:
            header[key] = _text(value, TEXT_WIDTH[key], p, (key,))
        else:
            header[key] = value
    table = Table(signature, header)
    if "reserved" in desc:
        table.fields["reserved"] = hex_bytes(desc["reserved"], p, ("reserved",))
    if "node_offset" in desc:
        table.node_offset = desc["node_offset"]
    if "padding" in desc:
        table.padding = hex_bytes(desc["padding"], p, ("padding",))
    if "trailing" in desc:
        table.trailing = hex_bytes(desc["trailing"], p, ("trailing",))
    return table


def _text(value: str, width: int, p: Problems, path: tuple) -> bytes:
    try:
        raw = str(value).encode("latin-1")
    except UnicodeEncodeError:
        p.error(path, f"{value!r} has characters outside latin-1")
        return bytes(width)
    if len(raw) > width:
        p.error(path, f"{value!r} is {len(raw)} characters; the field holds {width}")
        return raw[:width]
    return raw.ljust(width, b" ")


def hex_bytes(value: Any, p: Problems, path: tuple) -> bytes:
    try:
        return bytes.fromhex(str(value))
    except ValueError:
        p.error(path, f"{value!r} is not a string of hex bytes")
        return b""


def describe_header(table: Table) -> dict:
    out: dict = {"table": table.signature}
    for key in HEADER_FIELDS:
        value = table.header[key]
        if key in TEXT_WIDTH:
            text = value.decode("latin-1")
            out[key] = text.rstrip(" ") if text.rstrip(" ").isprintable() else text
        elif key in ("creator_revision", "oem_revision"):
            out[key] = Hex(value) if value > 0xFFFF else value
        else:
            out[key] = value
    if any(table.fields.get("reserved", b"")):
        out["reserved"] = table.fields["reserved"].hex()
    for key, value in table.fields.items():
        if key != "reserved" and not key.startswith("_"):
            out[key] = value
    if table.node_offset is not None:
        out["node_offset"] = Hex(table.node_offset)
    if table.padding and (any(table.padding) or table.node_offset is None):
        out["padding"] = table.padding.hex()
    if table.trailing:
        out["trailing"] = table.trailing.hex()
    return out


# --- nodes -------------------------------------------------------------------

def reserved_values(struct: Struct, values: dict, prefix: str = "") -> list[tuple[str, bytes]]:
    """(dotted name, bytes) of every reserved field a declaration has."""
    out = []
    for sub in struct.subcons:
        inner = leaf(sub)
        if inner is not sub and isinstance(inner, Struct):
            out += reserved_values(inner, values.get(sub.name, {}), prefix + sub.name + ".")
        elif sub.name and "reserved" in sub.name and isinstance(values.get(sub.name), bytes):
            out.append((prefix + sub.name, values[sub.name]))
    return out


def reserved_sizes(struct: Struct, prefix: str = "") -> dict[str, int]:
    out = {}
    for sub in struct.subcons:
        inner = leaf(sub)
        if inner is not sub and isinstance(inner, Struct):
            out.update(reserved_sizes(inner, prefix + sub.name + "."))
        elif sub.name and "reserved" in sub.name and isinstance(inner, Bytes):
            out[prefix + sub.name] = inner.sizeof()
    return out


def add_node(nodes: dict[str, Node], node: Node, p: Problems, path: tuple,
             node_types: dict) -> None:
    """Register a node built from the description item at `path`: apply its
    escape hatches, give it a name if it has none, reject duplicate names."""
    item = _get(p.data, path) or {}
    if not node.name:
        node.name = f"{path[0]}[{path[1]}]"
    elif node.name in nodes:
        p.error(path + ("name",), f"name {node.name!r} is already used by "
                f"{format_path(p.node_paths[node.name])}")
    ntype = node_types.get(node.type)
    if ntype is not None and not node.raw:
        node.kind = ntype
        sizes = reserved_sizes(ntype.struct)
        for field, value in (item.get("reserved") or {}).items():
            if field not in sizes:
                p.error(path + ("reserved", field), f"no reserved field {field!r} here (known: "
                        f"{', '.join(sizes)})", key=True)
                continue
            raw = hex_bytes(value, p, path + ("reserved", field))
            if len(raw) != sizes[field]:
                p.error(path + ("reserved", field), f"{field} is {sizes[field]} bytes, "
                        f"{len(raw)} given")
                continue
            parts = field.split(".")
            target = node.fields
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = raw
        if "extra" in item:
            node.fields["extra"] = hex_bytes(item["extra"], p, path + ("extra",))
    if "length" in item:
        node.length_override = item["length"]
        p.warning(path + ("length",), f"explicit node length {item['length']} instead of the "
                  "computed one")
    nodes[node.name] = node
    p.node_paths[node.name] = path


def raw_node(item: dict, p: Problems, path: tuple) -> Node:
    data = hex_bytes(item["data"], p, path + ("data",))
    return Node(item["type"], {"data": data}, item.get("name", ""), raw=True)


def ordered(nodes: dict[str, Node], desc: dict, p: Problems) -> list[Node]:
    if "order" not in desc:
        return list(nodes.values())
    out, seen = [], set()
    for i, name in enumerate(desc["order"]):
        if name not in nodes:
            p.error(("order", i), f"unknown node {name!r}")
        elif name in seen:
            p.error(("order", i), f"node {name!r} is listed twice")
        else:
            seen.add(name)
            out.append(nodes[name])
    missing = [n for n in nodes if n not in seen]
    if missing:
        p.error(("order",), f"order leaves out {', '.join(missing)}")
    return out


def describe_ref(ref: Any) -> Any:
    if isinstance(ref, Ref):
        return ref.name if ref.name is not None else Hex(ref.offset or 0)
    return ref


def describe_raw(node: Node) -> dict:
    out: dict = {"name": node.name, "type": node.type, "data": node.fields["data"].hex()}
    if node.length_override is not None:
        out["length"] = node.length_override
    return out


def describe_raw_fields(node: Node, ntype: Any) -> dict:
    out: dict = {}
    reserved = {k: v.hex() for k, v in reserved_values(ntype.struct, node.fields) if any(v)}
    if reserved:
        out["reserved"] = reserved
    if node.fields.get("extra"):
        out["extra"] = node.fields["extra"].hex()
    if node.length_override is not None:
        out["length"] = node.length_override
    return out


def describe_order(table: Table, desc: dict, default_order: list[Node],
                   items: dict[int, dict]) -> None:
    """Add `order` (and names on the items it needs) when the table's node
    order is not the one the description would lay out by default."""
    if [id(n) for n in table.nodes] == [id(n) for n in default_order]:
        return
    for node in table.nodes:
        item = items.get(id(node))
        if item is not None and "name" not in item:
            items[id(node)] = {"name": node.name, **item}
            item.clear()
            item.update(items[id(node)])
    desc["order"] = [n.name for n in table.nodes]
