"""Merges of several branches: concatenation on channels and element-wise addition."""

from __future__ import annotations

from .api import Draw, Example, Function, Op, saves
from .base import Inferred, ShapeError, fmt_shape


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
        raise ShapeError("add needs identical shapes; got " + ", ".join(fmt_shape(s) for s in inputs),
                         _add_hint(inputs))
    return Inferred(inputs[0])


def gate_of(a, b) -> bool:
    """Whether `b` is a per-channel gate [C, 1, 1] of the image `a` [C, H, W]."""
    return len(a) == 3 and b[0] == a[0] and len(b) == 3 and b[1:] == (1, 1) and a != b


def _add_hint(inputs) -> str:
    """A gate [C, 1, 1] next to its image [C, H, W] is squeeze-excitation's multiply; else a missing projection."""
    if any(gate_of(a, b) for a in inputs for b in inputs):
        return "a [C, 1, 1] branch is a per-channel gate: multiply it with 'mul' (squeeze-excitation: x * gate(x))"
    return "give the shortcut a projection (1x1 conv with the same stride and output channels)"


def _add_inplace(attrs, args):
    """`x += y` for two distinct inputs (a residual sum), else no in-place form."""
    return f"{args[0]} += {args[1]}" if len(args) == 2 and args[0] != args[1] else None


OPS = [
    Op("concat", "concatenate branches along channels (torch.cat(dim=1))", _concat_infer,
       lower=Function(lambda attrs, args: f"torch.cat([{', '.join(args)}], 1)"), merge=True, inplace_safe=True,
       draw=Draw("#d9d2e9", "ellipse"), example=Example({}, [(2, 4, 4), (3, 4, 4), (1, 4, 4)]),
       memory=saves()),
    Op("add", "add branches element-wise (residual connections)", _add_infer,
       lower=Function(lambda attrs, args: " + ".join(args), _add_inplace), merge=True, inplace_safe=True,
       draw=Draw("#f4cccc", "ellipse"), example=Example({}, [(3, 4, 4), (3, 4, 4)]),
       memory=saves()),
]
