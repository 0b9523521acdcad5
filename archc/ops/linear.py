"""Fully connected layer, on [F] or on the last dim of tokens [L, D] and channels-last [H, W, C]."""

from __future__ import annotations

from .api import Draw, Example, Init, Module, Op, nn, saves
from .base import Attr, Inferred, expect_rank, numel
from .layout import last_dim_layout, names_of, with_names


def infer(attrs, inputs):
    (shape,) = inputs
    if not last_dim_layout(shape):
        expect_rank("linear", shape, 1, "add 'flatten' before the first linear layer (after the last conv/pool layer)")
    weights = shape[-1] * attrs["out"]
    out = with_names((*shape[:-1], attrs["out"]), names_of(shape))
    return Inferred(out, weights + (attrs["out"] if attrs["bias"] else 0), weights * numel(shape[:-1]))


def call(attrs, inputs):
    return nn("Linear", inputs[0][-1], attrs["out"], bias=attrs["bias"])


LINEAR = Op(
    "linear",
    "fully connected layer (torch.nn.Linear); in_features is inferred",
    infer,
    {"out": Attr("pos_int", doc="output features"), "bias": Attr("bool", True)},
    lower=Module(call, factory=True),
    label=lambda attrs: f"linear {attrs['out']}",
    inplace_safe=True,
    init=Init(classes="nn.Linear", default_bias=True),
    draw=Draw("#f9cb9c"),
    example=Example({"out": 3}, [(5,)]),
    memory=saves("input"),
)
OPS = [LINEAR]
