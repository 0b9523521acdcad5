"""The JSON Schema (draft 2020-12) of a spec, and structural validation against it.

`spec.schema.json` in the package is the structural truth used for validation
and by editors; `generate()` derives it from the op registry
(`python -m archc.schema > archc/spec.schema.json`), and a test keeps the two equal.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from . import limits
from .errors import Diagnostic, SpecError, did_you_mean
from .init import schema as init_schema
from .loader import PList, PMap
from .ops import REGISTRY

SCHEMA_FILE = "spec.schema.json"
INIT = init_schema()
EXPR = {"type": "string", "description": "an expression, e.g. '4 * growth' or 'floor(in_channels / 2)'"}
_KIND = {
    "int": {"type": ["integer", "string"]},
    "pos_int": {"type": ["integer", "string"]},
    "nonneg_int": {"type": ["integer", "string"]},
    "float": {"type": ["number", "string"]},
    "pos_float": {"type": ["number", "string"]},
    "prob": {"type": ["number", "string"]},
    "bool": {"type": ["boolean", "string"]},
    "ints": {"type": ["array", "string"], "items": {"type": ["integer", "string"]}},
}
_PAIR = {"type": ["integer", "string", "array"], "items": {"type": ["integer", "string"]}, "minItems": 2,
         "maxItems": 2}
_COMMON = {
    "name": {"type": ["string", "integer"], "description": "module name; may use {expr} templates"},
    "from": {"type": ["string", "array"], "items": {"type": "string"}, "description": "take input from named layers"},
    "side": {"type": "boolean", "description": "a side branch: the next layer takes this layer's input"},
}
_REF = lambda name: {"$ref": f"#/$defs/{name}"}  # noqa: E731


def _attr_schema(attr) -> dict:
    if attr.kind == "choice":
        schema = {"enum": list(attr.choices)}
    elif attr.kind in ("pair", "nonneg_pair"):
        schema = dict(_PAIR)
    elif attr.kind == "padding":
        schema = dict(_PAIR)
    else:
        schema = dict(_KIND[attr.kind])
    if attr.doc:
        schema["description"] = attr.doc
    return schema


def _op_schema(op) -> dict:
    props = {**_COMMON, **{k: _attr_schema(a) for k, a in op.attrs.items()}}
    if op.merge:  # its other keys are branches
        return {"type": "object", "description": op.doc, "properties": props, "additionalProperties": _REF("entry")}
    required = [k for k, a in op.attrs.items() if a.required]
    schema = {"type": ["object", "null"] if not required else "object", "description": op.doc, "properties": props,
              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def generate() -> dict:
    """Build the spec schema from the op registry."""
    group = {"oneOf": [_REF("sequence"), {"type": "object", "properties": {**_COMMON, "layers": _REF("body")},
                                           "required": ["layers"], "additionalProperties": False}]}
    call_rules = [{"if": {"required": [name]}, "then": {"properties": {name: _REF(f"op_{name}")}}}
                  for name in sorted(REGISTRY)]
    call_rules += [{"if": {"required": [name]}, "then": {"properties": {name: _REF("group")}}}
                   for name in ("group", "dense")]
    defs = {
        "expr": EXPR,
        "sequence": {"type": "array", "items": _REF("item")},
        "body": {"type": ["array", "object"], "items": _REF("item"), "additionalProperties": _REF("entry")},
        "entry": {"if": {"type": "array"}, "then": _REF("sequence"),
                  "else": {"if": {"type": "null"}, "then": True, "else": _REF("item")}},
        "item": {
            "if": {"type": "string"}, "then": {"description": "an op or block with default attributes"},
            "else": {"if": {"type": "object", "required": ["for"]}, "then": _REF("for"),
                     "else": {"if": {"type": "object", "required": ["if"]}, "then": _REF("if"),
                              "else": _REF("call")}},
        },
        "call": {"type": "object", "minProperties": 1, "maxProperties": 1,
                 "description": "one op, block or group: {op: {attributes}}", "allOf": call_rules},
        "group": group,
        "for": {"type": "object", "description": "repeat 'do' for each element of 'in' (a list, or a count)",
                "properties": {"for": {"type": ["string", "array"], "items": {"type": "string"}},
                               "in": {"type": ["string", "integer", "array"]}, "index": {"type": "string"},
                               "name": {"type": "string"}, "do": _REF("body")},
                "required": ["for", "in", "do"], "additionalProperties": False},
        "if": {"type": "object", "description": "'then' when the condition holds, else 'else'",
               "properties": {"if": {"type": ["string", "boolean"]}, "then": _REF("body"), "else": _REF("body")},
               "required": ["if"], "additionalProperties": False},
        "block": {"type": "object", "properties": {
            "doc": {"type": "string"},
            "params": {"type": ["object", "null"], "description": "name: type ([int, int], int, float, bool, str,"
                       " list, any), a default value, or {type: T, default: V, choices: [words]}"},
            "let": _REF("let"),
            "layers": _REF("body")}, "required": ["layers"], "additionalProperties": False},
        "let": {"type": ["object", "null"], "description": "local names, each an expression evaluated once, "
                "in order", "additionalProperties": {"type": ["string", "number", "boolean", "array"]}},
        "output": {"type": ["string", "object"], "properties": {"from": {"type": "string"},
                   "train_only": {"type": "boolean"}, "if": {"type": ["string", "boolean"]}},
                   "required": ["from"], "additionalProperties": False},
        **INIT["defs"],
        **{f"op_{name}": _op_schema(op) for name, op in sorted(REGISTRY.items())},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/archc/archc/blob/main/archc/spec.schema.json",
        "title": "archc architecture spec",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "extends": {"type": "string", "description": "a spec file this one overrides"},
            "imports": {"type": ["string", "array"], "items": {"type": "string"},
                        "description": "files whose blocks this spec uses"},
            "plugins": {"type": "array", "items": {"type": "string"},
                        "description": "plugins (user ops) the spec needs; the user gives them with --plugin"},
            "input": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 3,
                      "description": "input shape without the batch: [C, H, W] or [features]"},
            "params": {"type": ["object", "null"], "description": "spec params and their defaults"},
            "let": _REF("let"),
            "init": INIT["section"],
            "freeze": {"type": ["string", "array"], "items": {"type": "string"},
                       "description": "module paths whose parameters are not trained (requires_grad=False)"},
            "blocks": {"type": ["object", "null"], "additionalProperties": _REF("block")},
            "layers": _REF("body"),
            "outputs": {"type": "array", "items": _REF("output"), "minItems": 1},
        },
        # a spec that extends another may override its input or layers alone
        "if": {"required": ["extends"]},
        "else": {"dependentRequired": {"layers": ["input"], "input": ["layers"]}},
        "additionalProperties": False,
        "$defs": defs,
    }


@lru_cache(maxsize=1)
def schema() -> dict:
    """The packaged schema file."""
    return json.loads(resources.files("archc").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _fast():
    """jsonschema-rs (~15 ms to import): finds the errors fast; `_validator` explains them."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(schema())


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _locate(doc, path) -> tuple[object, object, str]:
    """Follow a jsonschema path through the positioned tree: (container, key, dotted spec path)."""
    parent, key, node, text = None, None, doc, ""
    for part in path:
        try:
            child = node[part]
        except (KeyError, IndexError, TypeError):  # a key the schema saw in another form (a null key as "None")
            break
        parent, key = node, part
        shown = getattr(node, "indices", None)  # a pruned view's list: its items' own indices
        node = child
        part = shown[part] if shown and isinstance(part, int) else part
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return parent, key, text


def _span(container, key, *, key_only: bool = False):
    if isinstance(container, PMap):
        return container.span_of(key, key_only=key_only)
    if isinstance(container, PList):
        return container.span_of(key)
    return None


_JSON_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "boolean": "true or false",
               "integer": "an integer", "number": "a number", "null": "null"}


def _type_name(value) -> str:
    for cls, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"), (str, "a string"),
                      (int, "an integer"), (float, "a number")):
        if isinstance(value, cls):
            return name
    return "null" if value is None else type(value).__name__


def _misspelt(node, schema: dict, wanted: str) -> bool:
    """Whether `node` has an unknown key that looks like a misspelling of `wanted`."""
    allowed = schema.get("properties", {})
    return bool(did_you_mean(wanted, [k for k in node if k not in allowed]))


def _fitting_alternatives(err) -> list:
    """Of the alternatives a value matched none of, the errors of those whose type fits the value."""
    from jsonschema.exceptions import best_match

    fitting = [e for e in err.context if not (e.validator == "type" and e.absolute_path == err.absolute_path)]
    return fitting or [best_match(err.context)]


def _diagnostics(doc, err) -> list[Diagnostic]:
    parent, key, where = _locate(doc, err.absolute_path)
    node = err.instance
    span = _span(parent, key) if parent is not None else getattr(doc, "span", None)
    if err.validator in ("oneOf", "anyOf") and err.context:
        return [d for sub in _fitting_alternatives(err) for d in _diagnostics(doc, sub)]
    if err.validator == "additionalProperties" and isinstance(node, dict):
        allowed = list(err.schema.get("properties", {}))
        extras = [k for k in node if k not in allowed]
        return [Diagnostic(f"unknown key '{k}'" + (f" in '{where}'" if where else ""), _span(node, k, key_only=True),
                           f"{where}.{k}" if where else str(k),
                           did_you_mean(k, allowed) or ("allowed: " + ", ".join(allowed) if allowed else None))
                for k in extras]
    if err.validator == "required":
        missing = [k for k in err.validator_value if k not in node and not _misspelt(node, err.schema, k)]
        return [Diagnostic(f"missing required key '{k}'" + (f" in '{where}'" if where else ""),
                           getattr(node, "span", span), where, f"add '{k}: ...'") for k in missing]
    if err.validator == "dependentRequired":
        return [Diagnostic(f"a spec with '{k}' also needs '{need}'", getattr(node, "span", span), where,
                           f"add '{need}: ...'") for k, needs in err.validator_value.items() if k in node
                for need in needs if need not in node and not _misspelt(node, err.schema, need)]
    if err.validator == "type":
        expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        wanted = " or ".join(_JSON_TYPES.get(t, t) for t in expected)
        return [Diagnostic(f"expected {wanted}, found {_type_name(node)}", span, where,
                           "a string here is an expression" if "string" in expected and len(expected) > 1 else None)]
    if err.validator in ("minItems", "maxItems"):
        bound = "at least" if err.validator == "minItems" else "at most"
        return [Diagnostic(f"expected {bound} {err.validator_value} values, found {len(node)}: {node}", span, where,
                           err.schema.get("description"))]
    if err.validator == "minimum":
        return [Diagnostic(f"expected a number >= {err.validator_value}, found {node}", span, where)]
    if err.validator in ("minProperties", "maxProperties") and isinstance(node, dict):
        return [Diagnostic(f"a layer is one op or block written as 'op: {{attributes}}'; found "
                           f"{len(node)} keys ({', '.join(map(str, node))})", getattr(node, "span", span), where,
                           "put each layer in its own list item ('- ')")]
    if err.validator == "enum":
        return [Diagnostic(f"expected one of {', '.join(map(repr, err.validator_value))}, found {node!r}", span,
                           where, did_you_mean(str(node), err.validator_value))]
    return [Diagnostic(err.message, span, where)]


def validate(doc) -> None:
    """Raise SpecError listing the structural problems of a positioned spec (at most MAX_ERRORS, the
    rest counted).

    jsonschema-rs finds the errors; jsonschema explains them, shown only the failing parts of long
    lists and mappings (it takes seconds over a spec of thousands of layers).
    """
    try:
        failing = list(dict.fromkeys(tuple(e.instance_path) for e in _fast().iter_errors(doc)))
    except ValueError:  # a value jsonschema-rs cannot represent (e.g. a huge integer): jsonschema judges it all
        failing = None
    if failing == []:
        return
    view, more = doc, 0
    if failing is not None:
        explained = failing[:limits.MAX_ERRORS]
        more = len(failing) - len(explained)
        keep = {path[:n] for path in explained for n in range(len(path) + 1)}
        view = _pruned(doc, (), keep, set(explained))
    diagnostics, seen = [], set()
    for err in _validator().iter_errors(view):
        if len(diagnostics) >= limits.MAX_ERRORS:
            more += 1  # counted, not explained: explaining costs more than finding
            continue
        for diag in _diagnostics(view, err):
            key = (diag.message, diag.span)
            if key not in seen:
                seen.add(key)
                diagnostics.append(diag)
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
        raise SpecError(diagnostics[:limits.MAX_ERRORS], more + max(0, len(diagnostics) - limits.MAX_ERRORS))


PRUNE_FROM = 32  # longer lists and mappings are explained from their failing entries (and the first) only


class _PrunedList(PList):
    """Some items of a list; `indices`: where each stands in the original."""

    __slots__ = ("indices",)


def _pruned(node, path: tuple, keep: set, ends: set):
    """`node` with its long lists and mappings cut down to the entries on failing paths (`keep`);
    a list or mapping that is itself an error (`ends`) stays whole, so its own checks still see it."""
    if isinstance(node, PList):
        indices = range(len(node))
        if len(node) > PRUNE_FROM and path not in ends:
            indices = [i for i in indices if path + (i,) in keep] or [0]
        view = _PrunedList([_pruned(node[i], path + (i,), keep, ends) for i in indices], span=node.span)
        view.item_spans, view.indices = [node.span_of(i) for i in indices], list(indices)
        return view
    if isinstance(node, PMap):
        keys = list(node)
        if len(node) > PRUNE_FROM and path not in ends:
            keys = [k for k in keys if path + (k,) in keep] or keys[:1]
        view = PMap({k: _pruned(node[k], path + (k,), keep, ends) for k in keys}, span=node.span)
        view.key_spans, view.value_spans = node.key_spans, node.value_spans
        return view
    return node


if __name__ == "__main__":
    print(json.dumps(generate(), indent=2))
