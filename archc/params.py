"""Typed params: block param declarations, spec params and their overrides (`--set k=v`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from .errors import SpecError, did_you_mean, error
from .yaml_parse import CORE_RESOLVERS, PlainTags
from .ops import REQUIRED

TYPE_NAMES = ("int", "float", "bool", "str", "list", "any")


@dataclass(frozen=True)
class ParamType:
    """A param's type: one of TYPE_NAMES, or a fixed-length tuple of them."""

    name: str = "any"
    items: tuple["ParamType", ...] = ()
    choices: tuple = ()  # for str: the words an argument may give literally (`act: relu`)
    inferred: bool = False  # the type was read off a bare default value

    def __str__(self) -> str:
        text = "[" + ", ".join(map(str, self.items)) + "]" if self.items else self.name
        return text + (f" (one of {', '.join(map(str, self.choices))})" if self.choices else "")


def type_of(value, inferred: bool = False) -> ParamType:
    for name, cls in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", list)):
        if isinstance(value, cls):
            return ParamType(name, inferred=inferred)
    return ParamType("any")


def _parse_type(raw) -> ParamType | None:
    if isinstance(raw, str) and raw in TYPE_NAMES:
        return ParamType(raw)
    if isinstance(raw, list) and raw and all(isinstance(r, str) and r in TYPE_NAMES for r in raw):
        return ParamType("list", tuple(ParamType(r) for r in raw))
    return None


def parse_param(raw) -> tuple[ParamType, object]:
    """`int` (required), `[int, int]` (required pair), `{type: T, default: V, choices: [...]}`, or a bare
    default value (whose type the param then takes)."""
    declared = _parse_type(raw)
    if declared is not None:
        return declared, REQUIRED
    if isinstance(raw, dict) and "type" in raw:
        declared = _parse_type(raw["type"])
        if declared is None:
            raise ValueError(f"unknown type {raw['type']!r}; types are {', '.join(TYPE_NAMES)} or a list of them")
        unknown = [k for k in raw if k not in ("type", "default", "choices")]
        if unknown:
            raise ValueError(f"unknown key '{unknown[0]}'; a declaration takes type, default and choices")
        if "choices" in raw:
            choices = raw["choices"]
            if declared.name != "str" or not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                raise ValueError("choices are a list of words, for a param of type str")
            declared = ParamType("str", choices=tuple(choices))
        default = raw.get("default", REQUIRED)
        if default is not REQUIRED and (problem := check_value(declared, default)):
            raise ValueError(f"default {problem}")
        return declared, default
    return type_of(raw, inferred=True), raw


def check_value(ptype: ParamType, value) -> str | None:
    """None if `value` fits `ptype`, else what is wrong."""
    name = ptype.name
    ok = {
        "any": True,
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "list": isinstance(value, list),
    }[name]
    if not ok:
        problem = f"expected {ptype}, found {value!r}"
        if ptype.inferred:
            problem += (f" (the type of its default); declare it as {{type: any, default: ...}} or "
                        f"{{type: [{ptype.name}, {ptype.name}], ...}} to accept other values")
        return problem
    if ptype.choices and value not in ptype.choices:
        return f"expected one of {', '.join(ptype.choices)}, found {value!r}"
    if ptype.items:
        if len(value) != len(ptype.items):
            return f"expected {len(ptype.items)} values {ptype}, found {len(value)}: {value!r}"
        for item_type, item in zip(ptype.items, value):
            if problem := check_value(item_type, item):
                return problem
    return None


class _ValueLoader(PlainTags, yaml.SafeLoader):
    """One command-line value: plain YAML only (no aliases, no tags); refusals are ValueErrors."""

    yaml_implicit_resolvers = CORE_RESOLVERS

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise ValueError("YAML aliases (*name) are not allowed in a --set value")
        return super().compose_node(parent, index)

    def refuse(self, node, message: str):
        raise ValueError(f"{message} in a --set value")


def parse_override(text: str) -> tuple[str, object]:
    """Parse `k=v` from the command line; v is read as a YAML value (2, 0.5, [[1, 64]], true).

    A value that is not valid YAML is taken as a string; aliases and tags are refused (ValueError).
    """
    if "=" not in text:
        raise ValueError(f"'{text}' is not of the form name=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.load(raw, Loader=_ValueLoader) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError):
        value = raw
    return key.strip(), value


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_param_names(declared, where: str) -> None:
    """Every declared param is named by an identifier (expressions refer to it by that name)."""
    for key in declared:
        if not isinstance(key, str) or not _NAME.match(key):
            span = declared.span_of(key, key_only=True) if hasattr(declared, "span_of") else None
            raise error(f"the param name {key!r} is not a name", span, where,
                        "param names are letters, digits and '_', starting with a letter or '_'")


def resolve_params(declared, overrides: dict) -> dict:
    """Spec params with overrides applied, each override checked against its default's type."""
    declared = declared or {}
    check_param_names(declared, "params")
    params = dict(declared)
    for key, value in overrides.items():
        if key not in declared:
            hint = did_you_mean(key, declared) or ("params: " + ", ".join(declared) if declared else
                                                  "this spec declares no params")
            raise error(f"unknown param '{key}'", None, "params", hint)
        ptype = type_of(declared[key])
        if (problem := check_value(ptype, value)) is not None:
            raise error(f"param '{key}': {problem}", declared.span_of(key) if hasattr(declared, "span_of") else None,
                        f"params.{key}", f"the default is {declared[key]!r}")
        params[key] = float(value) if ptype.name == "float" else value
    return params


__all__ = ["ParamType", "parse_param", "check_value", "check_param_names", "parse_override", "resolve_params",
           "SpecError"]
