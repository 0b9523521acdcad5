"""Ops that move or drop values without learning anything: flatten, identity, dropout."""

from __future__ import annotations

from .base import Attr, Inferred, Op, ShapeError, numel


def _flatten_infer(attrs, inputs):
    (shape,) = inputs
    start = attrs["start"]
    if not 1 <= start <= len(shape):
        raise ShapeError(f"flatten start {start} is out of range for a {len(shape) + 1}-d input",
                         "start counts the batch as dimension 0; the usual value is 1")
    return Inferred((*shape[: start - 1], numel(shape[start - 1:])))


def _module(cls, kwargs=lambda a: {}):
    def build(attrs, inputs):
        import torch.nn as nn

        return getattr(nn, cls)(**kwargs(attrs))

    return build


OPS = [
    Op("flatten", "flatten to [N, features] (torch.nn.Flatten)", _flatten_infer,
       {"start": Attr("pos_int", 1, "first dimension to flatten (the batch is 0)")},
       module=_module("Flatten", lambda a: {"start_dim": a["start"]}), label=lambda a: "flatten"),
    Op("identity", "passes its input through (torch.nn.Identity)", lambda a, i: Inferred(i[0]),
       module=_module("Identity"), label=lambda a: "identity"),
    Op("dropout", "dropout (torch.nn.Dropout); identity in eval mode", lambda a, i: Inferred(i[0]),
       {"p": Attr("prob", 0.5, "drop probability")},
       module=_module("Dropout", lambda a: {"p": a["p"]}), label=lambda a: f"dropout {a['p']:g}"),
]
