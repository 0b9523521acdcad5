"""Stochastic depth: drop a residual branch while training (torchvision.ops.StochasticDepth)."""

from __future__ import annotations

from .api import Call, Example, Memory, Module, Op, Saved
from .base import Attr, Inferred


def _saved(attrs, inputs, output):
    """x * noise saves the noise: one value per sample (row) or one in all (batch); p = 0 returns x."""
    return (Saved("noise", 1, batched=attrs["mode"] == "row"),) if attrs["p"] > 0.0 else ()


STOCHASTIC_DEPTH = Op(
    "stochastic_depth",
    "drops the branch per sample (row) or per batch with probability p in training; identity in eval",
    lambda attrs, inputs: Inferred(inputs[0]),
    {"p": Attr("prob", doc="drop probability"),
     "mode": Attr("choice", "row", "row: per sample, batch: the whole batch", ("row", "batch"))},
    lower=Module(lambda attrs, inputs: Call("archc.nn.layers.StochasticDepth", (attrs["p"], attrs["mode"]))),
    label=lambda attrs: f"stochastic depth {attrs['p']:g}",
    inplace_safe=True,  # x * noise: backward needs the noise, not the product; in eval x passes through
    example=Example({"p": 0.5}, [(4, 8, 8)]),
    memory=Memory(_saved, view=lambda attrs, training: not training or attrs["p"] == 0.0),  # returns x as is
)
OPS = [STOCHASTIC_DEPTH]
