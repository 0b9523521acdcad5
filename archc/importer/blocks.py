"""Blocks from repeated structures, loops from runs of block calls, and the final tidy-up of items.

`template(bodies)` lines up the bodies of a block's instances (identical but for attribute values):
positions whose values differ become params, named by their attribute (`out`, `stride`) or, where
one attribute has several unrelated value series, by layer and attribute (`conv1_out`); a series
that is an integer multiple of another is written as an expression (`4 * out`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..ops import REGISTRY


@dataclass
class Block:
    name: str
    layers: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    values: list = field(default_factory=list)
    instances: dict = field(default_factory=dict)


def flat(value):
    """Pairs of equal ints as one int, tuples as lists (as a spec writes them)."""
    if isinstance(value, tuple):
        if value and all(v == value[0] for v in value) and not isinstance(value[0], tuple):
            return value[0]
        return [flat(v) for v in value]
    return value


def _leaves(body, heads, path=(), label=""):
    """(path, layer label, attribute, value) of every value in a body."""
    if isinstance(body, list):
        for i, item in enumerate(body):
            yield from _leaves(item, heads, path + (i,), f"{label}_{i}" if len(body) > 1 and label else label)
    elif isinstance(body, dict):
        for key, value in body.items():
            if key == "name":
                continue
            if isinstance(value, dict) and "name" in value:
                inner = str(value["name"])
            elif key in heads or key.startswith("_") or key == "layers":
                inner = label
            else:
                inner = f"{label}_{key}" if label else key
            if isinstance(value, (dict, list)):
                yield from _leaves(value, heads, path + (key,), inner)
            else:
                yield path + (key,), label, key, value


def _set(body, path, value):
    for step in path[:-1]:
        body = body[step]
    body[path[-1]] = value


def _type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str"}.get(type(value), "any")


def template(bodies: list, heads: set) -> tuple[list, dict, list]:
    """(layers with params, {param: type}, [{param: value} per instance])."""
    import copy

    layers = copy.deepcopy(bodies[0])
    series: dict = {}
    for leaves in zip(*(list(_leaves(b, heads | set(REGISTRY))) for b in bodies)):
        values = tuple(flat(leaf[3]) for leaf in leaves)
        if len(set(map(repr, values))) > 1:
            path, label, attr, _ = leaves[0]
            series[path] = (label, attr, values)
    names: dict = {}
    by_attr: dict = {}
    for path, (label, attr, values) in series.items():
        by_attr.setdefault(attr, [])
        if values not in by_attr[attr]:
            by_attr[attr].append(values)
    bases: dict = {}
    for path, (label, attr, values) in series.items():
        expr = None
        for base, name in bases.items():
            factor = _factor(base, values)
            if factor == 1:
                expr = name
            elif factor:
                expr = f"{factor} * {name}"
            if expr:
                break
        if expr is None:
            distinct = [v for v in by_attr[attr] if not any(_factor(b, v) for b in by_attr[attr] if b is not v)]
            name = attr if len(distinct) == 1 or not label else re.sub(r"\W", "_", f"{label}_{attr}")
            while name in names.values():
                name += "_"
            bases[values] = expr = name
            names[values] = name
        _set(layers, path, expr)
    params = {name: _type(values[0]) for values, name in names.items()}
    instance_values = [{name: values[i] for values, name in names.items()} for i in range(len(bodies))]
    return layers, params, instance_values


def _factor(base, values):
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in base + values):
        return None
    if all(v % b == 0 for b, v in zip(base, values)):
        factors = {v // b for b, v in zip(base, values)}
        if len(factors) == 1:
            return factors.pop()
    return None
