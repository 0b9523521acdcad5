"""Fully connected layer."""

from __future__ import annotations

from .base import Attr, Inferred, Op, expect_rank


def infer(attrs, inputs):
    (shape,) = inputs
    expect_rank("linear", shape, 1, "add 'flatten' before the first linear layer (after the last conv/pool layer)")
    weights = shape[0] * attrs["out"]
    return Inferred((attrs["out"],), weights + (attrs["out"] if attrs["bias"] else 0), weights)


def module(attrs, inputs, device=None):
    import torch.nn as nn

    return nn.Linear(inputs[0][0], attrs["out"], bias=attrs["bias"], device=device)


LINEAR = Op(
    "linear",
    "fully connected layer (torch.nn.Linear); in_features is inferred",
    infer,
    {"out": Attr("pos_int", doc="output features"), "bias": Attr("bool", True)},
    module=module,
    label=lambda attrs: f"linear {attrs['out']}",
)
OPS = [LINEAR]
