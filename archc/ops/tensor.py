"""Ops that move or drop values without learning anything: flatten, identity, dropout."""

from __future__ import annotations

from .api import VIEW, Example, Memory, Op, Saved, simple_module
from .base import Attr, Inferred, ShapeError, numel


def _flatten_infer(attrs, inputs):
    (shape,) = inputs
    start = attrs["start"]
    if not 1 <= start <= len(shape):
        raise ShapeError(f"flatten start {start} is out of range for a {len(shape) + 1}-d input",
                         "start counts the batch as dimension 0; the usual value is 1")
    return Inferred((*shape[: start - 1], numel(shape[start - 1:])))


def _dropout_saved(attrs, inputs, output):
    """The mask, scaled (input * mask); p = 1 multiplies by a zero scalar instead."""
    if attrs["p"] == 1:
        return (Saved("zero", 1, batched=False),)
    return (Saved("mask", numel(output), "mask"),) if attrs["p"] else ()


DROPOUT_MEMORY = Memory(_dropout_saved, view=lambda attrs, training: not training or attrs["p"] == 0)

OPS = [
    Op("flatten", "flatten to [N, features] (torch.nn.Flatten)", _flatten_infer,
       {"start": Attr("pos_int", 1, "first dimension to flatten (the batch is 0)")},
       lower=simple_module("Flatten", lambda a: {"start_dim": a["start"]}), example=Example({"start": 2}, [(3, 4, 4)]),
       memory=VIEW),
    Op("identity", "passes its input through (torch.nn.Identity)", lambda a, i: Inferred(i[0]),
       lower=simple_module("Identity"), example=Example({}, [(3, 8, 8)]), memory=VIEW),
    Op("dropout", "dropout (torch.nn.Dropout); identity in eval mode", lambda a, i: Inferred(i[0]),
       {"p": Attr("prob", 0.5, "drop probability")},
       lower=simple_module("Dropout", lambda a: {"p": a["p"]}), label=lambda a: f"dropout {a['p']:g}",
       example=Example({"p": 0.25}, [(8,)]), memory=DROPOUT_MEMORY),
]
