"""Torch modules back to archc ops, read off each op's own lowering.

Every op with a `Module` lowering is called once with sentinel attributes; where a sentinel lands in
the constructor's bound arguments tells which module attribute holds which op attribute
(`out` -> `out_channels`). A module is then matched by rebuilding it from the recovered attributes
and comparing the two modules' reprs, so nothing here is a table keyed by op name.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

import torch

from ..ops import REGISTRY, coerce
from ..ops.api import Module


class _Sentinel:
    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__


@dataclass(frozen=True)
class Inverse:
    op: str
    cls: type
    fields: dict  # op attribute -> constructor argument (also the module attribute)


def _target(call) -> type:
    if isinstance(call.target, type):
        return call.target
    module, _, name = call.target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _probe(op, shape) -> Inverse | None:
    attrs = {name: _Sentinel(name) for name in op.attrs}
    try:
        call = op.lower.call(attrs, [shape])
        cls = _target(call)
        bound = inspect.signature(cls).bind_partial(*call.args, **call.kwargs).arguments
    except Exception:  # noqa: BLE001 - a lowering that computes with its attributes cannot be read this way
        return None
    fields = {value.name: arg for arg, value in bound.items() if isinstance(value, _Sentinel)}
    return Inverse(op.name, cls, fields)


def inverses() -> dict[type, list[Inverse]]:
    """Module class -> the ops whose lowering makes it (probed with image and feature inputs)."""
    found: dict[type, list[Inverse]] = {}
    for op in REGISTRY.values():
        if not isinstance(op.lower, Module):
            continue
        for shape in ((4, 8, 8), (4,), (4, 8)):
            inverse = _probe(op, shape)
            if inverse and inverse not in found.get(inverse.cls, []):
                found.setdefault(inverse.cls, []).append(inverse)
    return found


def _value(module, field: str, attr):
    value = getattr(module, field)
    if attr.kind == "bool" and (value is None or isinstance(value, torch.Tensor)):
        return value is not None
    return value


def _flat(value):
    if isinstance(value, (tuple, list)) and value and all(v == value[0] for v in value):
        return _flat(value[0])
    return value


def _config(module) -> dict:
    """What a module was made with: its public settings (pairs of equal ints as one) and tensor shapes."""
    settings = {k: _flat(v) for k, v in vars(module).items()
                if not k.startswith("_") and k not in ("training", "inplace")}
    shapes = {k: tuple(v.shape) for k, v in module.state_dict(keep_vars=True).items()}
    return {"type": type(module).__qualname__, **settings, "tensors": shapes}


def _same_class(a: type, b: type) -> bool:
    """One class, or the same class of one file imported twice (a plugin file loaded by path)."""
    if a is b:
        return True
    try:
        return a.__qualname__ == b.__qualname__ and inspect.getfile(a) == inspect.getfile(b)
    except TypeError:
        return False


def match(module, shape, table) -> tuple[str, dict] | None:
    """(op name, attributes a spec writes) for a module seen with input `shape`, or None."""
    candidates = [inv for cls, found in table.items() if _same_class(cls, type(module)) for inv in found]
    for inverse in candidates:
        op = REGISTRY[inverse.op]
        attrs = {}
        try:
            for name, attr in op.attrs.items():
                raw = _value(module, inverse.fields[name], attr) if name in inverse.fields else attr.default
                attrs[name] = None if raw is None else coerce(attr.kind, raw, attr.choices)
            call = op.lower.call(attrs, [shape])
            with torch.device("meta"):
                rebuilt = _target(call)(*call.args, **call.kwargs)
        except Exception:  # noqa: BLE001, S112 - this op cannot make the module: try the next
            continue
        if _config(rebuilt) == _config(module):
            return op.name, attrs
    return None
