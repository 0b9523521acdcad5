"""Merges of several branches: concatenation on channels and element-wise addition."""

from __future__ import annotations

from .base import Inferred, Op, ShapeError, fmt_shape


def _concat_infer(attrs, inputs):
    first = inputs[0]
    for shape in inputs[1:]:
        if len(shape) != len(first) or shape[1:] != first[1:]:
            raise ShapeError(
                "concat needs the same shape apart from channels; got "
                + ", ".join(fmt_shape(s) for s in inputs),
                "make every branch downsample the same way (same stride and padding)",
            )
    return Inferred((sum(s[0] for s in inputs), *first[1:]))


def _add_infer(attrs, inputs):
    if any(shape != inputs[0] for shape in inputs[1:]):
        raise ShapeError(
            "add needs identical shapes; got " + ", ".join(fmt_shape(s) for s in inputs),
            "give the shortcut a projection (1x1 conv with the same stride and output channels)",
        )
    return Inferred(inputs[0])


def _cat(attrs):
    import torch

    return torch.cat, "torch.cat"


def _add(attrs):
    import operator

    return operator.add, "operator.add"


OPS = [
    Op("concat", "concatenate branches along channels (torch.cat(dim=1))", _concat_infer,
       function=_cat, label=lambda a: "concat", variadic=True),
    Op("add", "add branches element-wise (residual connections)", _add_infer,
       function=_add, label=lambda a: "add", variadic=True),
]
