"""Squeeze-and-excitation (Hu et al., 2018) as one archc op: an archc plugin in one file.

    archc --plugin examples/plugins/se.py shapes examples/plugins/se_resnet.yaml

The op `se` gates each channel of an image tensor by a weight computed from the whole image:
global average pool -> 1x1 conv to `squeeze` channels -> activation -> 1x1 conv back -> sigmoid ->
multiply with the input. Its module has torchvision.ops.SqueezeExcitation's state_dict keys
(fc1.weight, fc1.bias, fc2.weight, fc2.bias), so weights load either way.
"""

from __future__ import annotations

import torch
from torch import nn

from archc.op import Attr, Call, Draw, Example, Inferred, Init, Memory, Module, Op, Saved, ShapeError, expect_rank

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}
SCALES = {"sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid}


class SqueezeExcitation(nn.Module):
    """x * scale(fc2(activation(fc1(avgpool(x))))), as torchvision.ops.SqueezeExcitation computes it."""

    def __init__(self, channels: int, squeeze: int, activation: str = "relu", scale: str = "sigmoid"):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = ACTIVATIONS[activation]()
        self.scale_activation = SCALES[scale]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


def infer(attrs, inputs):
    """Same shape out; parameters and MACs of the two 1x1 convs (the pool and the multiply count 0)."""
    (shape,) = inputs
    expect_rank("se", shape, 3, "squeeze-excitation gates the channels of an image tensor")
    channels, squeeze = shape[0], attrs["squeeze"]
    if squeeze > channels:
        raise ShapeError(f"se squeezes {channels} channels to {squeeze}, more than it has",
                         "use squeeze <= in_channels, e.g. squeeze: in_channels // 16")
    macs = 2 * channels * squeeze
    return Inferred(shape, params=macs + squeeze + channels, macs=macs)


def saved(attrs, inputs, output):
    """What autograd keeps for backward (archc memory): the input and the gate (the multiply's operands),
    the pooled values (fc1's input), fc2's input, and fc1's output for silu, fc2's for hardsigmoid."""
    channels, squeeze = inputs[0][0], attrs["squeeze"]
    kept = [Saved("input"), Saved("pooled", channels), Saved("hidden", squeeze), Saved("gate", channels)]
    if attrs["activation"] == "silu":
        kept.append(Saved("fc1", squeeze))
    if attrs["scale"] == "hardsigmoid":
        kept.append(Saved("fc2", channels))
    return tuple(kept)


def call(attrs, inputs):
    return Call(SqueezeExcitation, (inputs[0][0], attrs["squeeze"]),
                {"activation": attrs["activation"], "scale": attrs["scale"]})


SE = Op(
    "se",
    "squeeze-and-excitation channel gate (torchvision.ops.SqueezeExcitation); channels are inferred",
    infer,
    {
        "squeeze": Attr("pos_int", doc="channels of the bottleneck (torchvision's squeeze_channels)"),
        "activation": Attr("choice", "relu", "activation after fc1", choices=tuple(ACTIVATIONS)),
        "scale": Attr("choice", "sigmoid", "activation of the gate", choices=tuple(SCALES)),
    },
    lower=Module(call),
    label=lambda attrs: f"se {attrs['squeeze']}",
    inplace_safe=True,  # backward of x * scale needs x and scale, not the product: a ReLU may overwrite it
    init=Init(tensors=("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")),
    draw=Draw("#d0e0e3"),
    example=Example({"squeeze": 2, "activation": "silu"}, [(6, 4, 4)]),
    memory=Memory(saved, scratch=lambda attrs, inputs, output: (Saved("gate", inputs[0][0]),)),
)

OPS = [SE]
