"""The op registry: every op archc knows, each defined in one place."""

from __future__ import annotations

from . import activation, conv, linear, merge, norm, pool, tensor
from .base import REQUIRED, Attr, AttrError, Inferred, Op, Shape, ShapeError, coerce, fmt_shape, numel

REGISTRY: dict[str, Op] = {op.name: op for mod in (conv, linear, pool, norm, activation, tensor, merge) for op in mod.OPS}
MERGES = frozenset(name for name, op in REGISTRY.items() if op.variadic)

__all__ = ["REGISTRY", "MERGES", "REQUIRED", "Attr", "AttrError", "Inferred", "Op", "Shape", "ShapeError",
           "coerce", "fmt_shape", "numel"]
