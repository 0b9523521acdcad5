"""The op registry: every op archc knows, built-in or from a plugin, each defined in one place."""

from __future__ import annotations

import importlib
import pkgutil

from .api import VIEW, Call, Draw, Example, Function, Init, Memory, Module, Op, Saved, Tensor, nn, saves, simple_module
from .base import REQUIRED, Attr, AttrError, Inferred, Shape, ShapeError, coerce, fmt_shape, numel

REGISTRY: dict[str, Op] = {}


class DuplicateOp(ValueError):
    """An op name is registered twice."""


def register(op: Op) -> Op:
    """Add an op to the registry; a name that is already taken is refused."""
    if not isinstance(op, Op):
        raise TypeError(f"expected an archc Op, found {type(op).__name__}")
    if op.name in REGISTRY:
        first = REGISTRY[op.name].plugin or "archc's built-in ops"
        raise DuplicateOp(f"the op '{op.name}' is defined twice (first by {first})")
    problem = _lowering_problem(op)
    if problem:
        raise ValueError(f"the op '{op.name}' {problem}")
    REGISTRY[op.name] = op
    return op


def _lowering_problem(op: Op) -> str | None:
    """What makes an op's lowering unusable, if any (the expander makes a module per op and none per merge)."""
    if op.lower is None:
        return "has no lowering (lower=Module(...) or Function(...))"
    if op.merge and not op.functional:
        return "is a merge, and merges lower to a Function (they make no module)"
    if op.merge and any(key in ("name", "from", "side") or key.startswith("_") for key in op.attrs):
        return "is a merge with an attribute named like a reserved key or an unnamed branch ('_...')"
    return None


def has_plugins() -> bool:
    return any(op.plugin for op in REGISTRY.values())


def _builtin_families() -> list:
    """The modules of this package that define ops (a top-level `OPS` list): a new op file needs no other edit."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)
               if info.name not in ("api", "base")]
    return [module for module in modules if hasattr(module, "OPS")]


BUILTIN_FAMILIES = _builtin_families()
for _family in BUILTIN_FAMILIES:
    for _op in _family.OPS:
        register(_op)

__all__ = ["REGISTRY", "REQUIRED", "VIEW", "Attr", "AttrError", "Call", "Draw", "DuplicateOp", "Example", "Function",
           "Inferred", "Init", "Memory", "Module", "Op", "Saved", "Shape", "Tensor", "ShapeError", "coerce", "fmt_shape",
           "has_plugins", "nn", "numel", "register", "saves", "simple_module"]
