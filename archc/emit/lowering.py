"""Op lowerings as torch objects and as source text: the one place a `Call` is resolved."""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache

from ..ir import Graph, Node
from ..ops import Call


@lru_cache(maxsize=None)
def resolve(target: str | type):
    """The class or function a Call names (`"torch.nn.Conv2d"`, `"my_ops.SqueezeExcite"`, or the object)."""
    if not isinstance(target, str):
        return target
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def node_call(graph: Graph, node: Node, inplace: set[str]) -> Call:
    """The Call that constructs a module node (with `inplace=True` where the forward runs it in place)."""
    call = node.spec.lower.call(node.attrs, [graph.shape_of(i) for i in node.inputs])
    if node.id in inplace and node.spec.lower.inplace:
        call = Call(call.target, call.args, {**call.kwargs, "inplace": True})
    return call


@lru_cache(maxsize=None)
def signature_of(target: str | type) -> inspect.Signature:
    """The signature of what a Call names (inspect.signature costs ~0.1 ms a call; a summary of 50,000
    layers asks for it 50,000 times)."""
    return inspect.signature(resolve(target))


def instantiate(call: Call, **factory):
    """The module a Call makes; `factory` (`device=`) only for lowerings that take it."""
    return resolve(call.target)(*call.args, **call.kwargs, **factory)


def _compact(value):
    """(3, 3) -> 3: torch accepts an int for a square size."""
    if isinstance(value, tuple) and value and all(v == value[0] for v in value) and isinstance(value[0], int):
        return value[0]
    return value


def inlined(target: str | type) -> bool:
    """Whether emitted code defines a Call's target itself rather than importing it: archc's own torch
    modules (archc/nn), which the ops name by import path."""
    return isinstance(target, str) and target.startswith("archc.nn.")


def source_name(target: str | type) -> tuple[str, str | None]:
    """How emitted code names a Call's target, and the import line it needs (None: `from torch import nn`,
    or an archc.nn class, which the file defines itself: inline.py)."""
    if isinstance(target, str):
        module, _, name = target.rpartition(".")
    else:
        module, name = target.__module__, target.__qualname__
    if module == "torch.nn":
        return f"nn.{name}", None
    if inlined(target):
        return name, None
    if module == "torch" or module.startswith("torch."):
        return f"{module}.{name}", "import torch"
    return name, f"from {module} import {name}"


def call_source(call: Call) -> tuple[str, str | None]:
    """`nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)`: required arguments by position, the others
    by name where they differ from the target's defaults; and the import line it needs."""
    name, needs = source_name(call.target)
    signature = signature_of(call.target)
    bound = signature.bind(*call.args, **call.kwargs)
    args = []
    for key, value in bound.arguments.items():
        param = signature.parameters[key]
        value = _compact(value)
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            args.extend(map(repr, value) if param.kind is param.VAR_POSITIONAL else
                        (f"{k}={v!r}" for k, v in value.items()))
        elif param.default is param.empty:
            args.append(repr(value))
        elif value != _compact(param.default):
            args.append(f"{key}={value!r}")
    return f"{name}({', '.join(args)})", needs


def op_module(op, attrs: dict, shapes: list):
    """The module of a module-lowered op for given attributes and input shapes (tests, tools)."""
    return instantiate(op.lower.call(attrs, shapes))


def apply_function(op, attrs: dict, tensors: list):
    """The value of a function-lowered op on `tensors`, computed by the code its lowering writes."""
    import torch

    names = [f"x{k}" for k in range(len(tensors))]
    return eval(op.lower.code(attrs, names), {"torch": torch}, dict(zip(names, tensors)))  # noqa: S307
