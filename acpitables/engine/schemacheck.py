"""acpitables: schemacheck.py -- a fast yes/no check against a description's
JSON Schema.

Compiled once per schema into nested closures (plain isinstance, key-set and
range tests, no error text). It answers only "valid?": a description that
passes needs nothing more, and one that fails is handed to jsonschema
(engine.description.schema_problems), which explains every error with its
place. It follows Draft 7 with the project's strict integer (a Python int,
not a bool, not 1.0). A keyword it does not implement makes compile() raise
Unsupported, and the caller then always asks jsonschema: the check may only
be missing, never more lenient than jsonschema.
"""
from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that assert nothing.
_ANNOTATIONS = {"description", "title", "$schema", "$id", "definitions", "default",
                "examples", "$comment"}


class Unsupported(Exception):
    """The schema uses a keyword this checker does not implement."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _scalar_key(v: Any) -> tuple:
    """What jsonschema's equality compares for a scalar: a bool is not 1,
    1 is 1.0."""
    if isinstance(v, bool):
        return ("bool", v)
    if _is_number(v):
        return ("number", v)
    if isinstance(v, str):
        return ("str", v)
    if v is None:
        return ("null",)
    raise Unsupported("const/enum of a non-scalar value")


def _member(values: list) -> Check:
    keys = {_scalar_key(v) for v in values}

    def check(v: Any) -> bool:
        try:
            return _scalar_key(v) in keys
        except (Unsupported, TypeError):  # a mapping or list is no scalar constant
            return False
    return check


def compile_schema(root: dict) -> Check:
    refs: dict[str, Check] = {}

    def ref(pointer: str) -> Check:
        if pointer not in refs:
            if not pointer.startswith("#/definitions/") or pointer.count("/") != 2:
                raise Unsupported(f"$ref {pointer}")
            target = root.get("definitions", {}).get(pointer.split("/")[2])
            if not isinstance(target, dict):
                raise Unsupported(f"$ref {pointer}")
            refs[pointer] = lambda v: compiled(v)  # recursion: bound below
            compiled = build(target)
            refs[pointer] = compiled
        return refs[pointer]

    def build(schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object")
        if "$ref" in schema:  # Draft 7: the keywords beside $ref are ignored
            return ref(schema["$ref"])
        checks: list[Check] = []
        unknown = set(schema) - _ANNOTATIONS - _KEYWORDS
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not all(k in _TYPES for k in kinds):
                raise Unsupported(f"type {kinds}")
            tests = [_TYPES[k] for k in kinds]
            checks.append(tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests)))
        if "const" in schema:
            checks.append(_member([schema["const"]]))
        if "enum" in schema:
            checks.append(_member(schema["enum"]))
        if "minimum" in schema:
            low = schema["minimum"]
            checks.append(lambda v: not _is_number(v) or not v < low)
        if "maximum" in schema:
            high = schema["maximum"]
            checks.append(lambda v: not _is_number(v) or not v > high)
        if "maxLength" in schema:
            n = schema["maxLength"]
            checks.append(lambda v: not isinstance(v, str) or len(v) <= n)
        if "minLength" in schema:
            n = schema["minLength"]
            checks.append(lambda v: not isinstance(v, str) or len(v) >= n)
        if "pattern" in schema:
            search = re.compile(schema["pattern"]).search
            checks.append(lambda v: not isinstance(v, str) or search(v) is not None)
        if "minItems" in schema:
            n = schema["minItems"]
            checks.append(lambda v: not isinstance(v, list) or len(v) >= n)
        if "maxItems" in schema:
            n = schema["maxItems"]
            checks.append(lambda v: not isinstance(v, list) or len(v) <= n)
        if "items" in schema:
            if not isinstance(schema["items"], (dict, bool)):
                raise Unsupported("items as a list")
            item = build(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
        if "required" in schema:
            need = list(schema["required"])
            checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in need))
        if "properties" in schema or "additionalProperties" in schema:
            props = {k: build(s) for k, s in schema.get("properties", {}).items()}
            extra = schema.get("additionalProperties", True)
            extra_check = None if extra is True else build(extra)

            def object_check(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                for key, value in v.items():
                    test = props.get(key) if isinstance(key, str) else None
                    if test is None:
                        if extra_check is not None and not extra_check(value):
                            return False
                    elif not test(value):
                        return False
                return True
            checks.append(object_check)
        if "propertyNames" in schema:
            names = build(schema["propertyNames"])
            checks.append(lambda v: not isinstance(v, dict) or all(names(k) for k in v))
        if "dependencies" in schema:
            deps = []
            for key, dep in schema["dependencies"].items():
                deps.append((key, dep if isinstance(dep, list) else build(dep)))

            def dependencies(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                for key, dep in deps:
                    if key in v:
                        if isinstance(dep, list):
                            if not all(k in v for k in dep):
                                return False
                        elif not dep(v):
                            return False
                return True
            checks.append(dependencies)
        if "allOf" in schema:
            subs = [build(s) for s in schema["allOf"]]
            checks.append(lambda v: all(s(v) for s in subs))
        if "anyOf" in schema:
            subs_any = [build(s) for s in schema["anyOf"]]
            checks.append(lambda v: any(s(v) for s in subs_any))
        if "oneOf" in schema:
            subs_one = [build(s) for s in schema["oneOf"]]
            checks.append(lambda v: sum(1 for s in subs_one if s(v)) == 1)
        if "not" in schema:
            negated = build(schema["not"])
            checks.append(lambda v: not negated(v))
        if "if" in schema:
            cond = build(schema["if"])
            then = build(schema.get("then", True))
            other = build(schema.get("else", True))
            checks.append(lambda v: then(v) if cond(v) else other(v))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    return build(root)


_KEYWORDS = {"type", "const", "enum", "minimum", "maximum", "maxLength", "minLength",
             "pattern", "minItems", "maxItems", "items", "required", "properties",
             "additionalProperties", "propertyNames", "dependencies", "allOf", "anyOf",
             "oneOf", "not", "if", "then", "else"}
