"""Ops that move or drop values without learning anything: flatten, reshape, identity, dropout."""

from __future__ import annotations

from .api import VIEW, Example, Function, Memory, Op, Saved, simple_module
from .base import Attr, Inferred, ShapeError, fmt_shape, numel


def _flatten_infer(attrs, inputs):
    (shape,) = inputs
    start, end, rank = attrs["start"], attrs["end"], len(shape) + 1
    if not 1 <= start <= len(shape):
        raise ShapeError(f"flatten start {start} is out of range for a {rank}-d input",
                         "start counts the batch as dimension 0; the usual value is 1")
    last = end + rank if end < 0 else end
    if not start <= last < rank:
        raise ShapeError(f"flatten end {end} is out of range for a {rank}-d input flattened from dim {start}",
                         f"end counts the batch as 0 and negative ones from the end (-1, the default, is the "
                         f"last); it may not come before start: use {start}..{rank - 1}")
    return Inferred((*shape[: start - 1], numel(shape[start - 1:last]), *shape[last:]))


def _reshape_infer(attrs, inputs):
    (shape,) = inputs
    target = attrs["shape"]
    if not target or target.count(-1) > 1 or any(d < 1 and d != -1 for d in target):
        raise ShapeError(f"reshape shape {list(target)} is not a shape",
                         "give the sizes without the batch, each >= 1, with at most one -1 (inferred)")
    known, total = numel(d for d in target if d != -1), numel(shape)
    wrong = total % known != 0 if -1 in target else total != known
    if wrong:
        need = f"a multiple of {known}" if -1 in target else str(known)
        raise ShapeError(f"reshape to {list(target)} needs {need} values per sample, but the input {fmt_shape(shape)} "
                         f"has {total}", "the sizes exclude the batch, and their product is the input's")
    return Inferred(tuple(total // known if d == -1 else d for d in target))


def _reshape_code(attrs, args) -> str:
    """`x.reshape(x.shape[0], 4, -1)`: the batch as it is, then the spec's sizes."""
    return f"{args[0]}.reshape({', '.join([f'{args[0]}.shape[0]', *map(str, attrs['shape'])])})"


def _dropout_saved(attrs, inputs, output):
    """The mask, scaled (input * mask); p = 1 multiplies by a zero scalar instead."""
    if attrs["p"] == 1:
        return (Saved("zero", 1, batched=False),)
    return (Saved("mask", numel(output), "mask"),) if attrs["p"] else ()


DROPOUT_MEMORY = Memory(_dropout_saved, view=lambda attrs, training: not training or attrs["p"] == 0)

OPS = [
    Op("flatten", "flatten dims start..end into one (torch.nn.Flatten)", _flatten_infer,
       {"start": Attr("pos_int", 1, "first dimension to flatten (the batch is 0)"),
        "end": Attr("int", -1, "last dimension to flatten (negative: from the end)")},
       lower=simple_module("Flatten", lambda a: {"start_dim": a["start"], "end_dim": a["end"]}),
       example=Example({"start": 1, "end": 2}, [(3, 4, 4)]), memory=VIEW),
    Op("reshape", "a new shape for the same values (x.reshape); the shape excludes the batch, one size may be -1",
       _reshape_infer, {"shape": Attr("ints", doc="the sizes without the batch, e.g. [4, -1]")},
       lower=Function(_reshape_code),
       label=lambda a: f"reshape {list(a['shape'])}", example=Example({"shape": [4, -1, 2]}, [(3, 4, 4)]),
       memory=VIEW),
    Op("identity", "passes its input through (torch.nn.Identity)", lambda a, i: Inferred(i[0]),
       lower=simple_module("Identity"), example=Example({}, [(3, 8, 8)]), memory=VIEW),
    Op("dropout", "dropout (torch.nn.Dropout); identity in eval mode", lambda a, i: Inferred(i[0]),
       {"p": Attr("prob", 0.5, "drop probability")},
       lower=simple_module("Dropout", lambda a: {"p": a["p"]}), label=lambda a: f"dropout {a['p']:g}",
       example=Example({"p": 0.25}, [(8,)]), memory=DROPOUT_MEMORY),
]
