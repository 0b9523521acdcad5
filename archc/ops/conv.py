"""2-d convolution."""

from __future__ import annotations

from .api import Draw, Example, Init, Module, Op, nn, saves
from .base import Attr, Inferred, ShapeError, expect_rank
from .spatial import window_out2d


def _padding(attrs) -> tuple[int, int] | str:
    return (0, 0) if attrs["padding"] == "valid" else attrs["padding"]


def infer(attrs, inputs):
    (shape,) = inputs
    expect_rank("conv", shape, 3, "conv needs an image tensor; is there a 'flatten' or 'linear' before it?")
    c, h, w = shape
    groups, out = attrs["groups"], attrs["out"]
    if c % groups or out % groups:
        raise ShapeError(
            f"groups={groups} must divide both input channels ({c}) and output channels ({out})",
            "choose groups that divides the channel counts",
        )
    kh, kw = attrs["kernel"]
    padding = _padding(attrs)
    if padding == "same":
        if attrs["stride"] != (1, 1):
            raise ShapeError("padding 'same' needs stride 1 (as in torch)", "use an explicit padding with stride > 1")
        oh, ow = h, w
    else:
        oh, ow = window_out2d((h, w), attrs["kernel"], attrs["stride"], padding, attrs["dilation"])
    weights = out * (c // groups) * kh * kw
    params = weights + (out if attrs["bias"] else 0)
    return Inferred((out, oh, ow), params, weights * oh * ow)


def call(attrs, inputs):
    return nn("Conv2d", inputs[0][0], attrs["out"], attrs["kernel"], stride=attrs["stride"], padding=_padding(attrs),
              dilation=attrs["dilation"], groups=attrs["groups"], bias=attrs["bias"])


def label(attrs) -> str:
    kh, kw = attrs["kernel"]
    stride = attrs["stride"]
    text = f"conv {kh}x{kw}"
    if stride != (1, 1):
        text += f"/{stride[0]}" if stride[0] == stride[1] else f"/{stride[0]}x{stride[1]}"
    text += f", {attrs['out']}"
    if attrs["groups"] > 1:
        text += f", groups {attrs['groups']}"
    if attrs["dilation"] != (1, 1):
        text += f", dilation {attrs['dilation'][0]}"
    return text


CONV = Op(
    "conv",
    "2-d convolution (torch.nn.Conv2d); in_channels is inferred",
    infer,
    {
        "out": Attr("pos_int", doc="output channels"),
        "kernel": Attr("pair", doc="kernel size, k or [kh, kw]"),
        "stride": Attr("pair", 1),
        "padding": Attr("padding", 0, "p, [ph, pw], 'same' or 'valid'"),
        "dilation": Attr("pair", 1),
        "groups": Attr("pos_int", 1),
        "bias": Attr("bool", True),
    },
    lower=Module(call, factory=True),
    label=label,
    inplace_safe=True,
    init=Init(classes="nn.Conv2d", default_bias=True),
    draw=Draw("#cfe2f3"),
    example=Example({"out": 6, "kernel": 3, "stride": 2, "padding": 1, "groups": 2}, [(4, 8, 8)]),
    memory=saves("input"),
)
OPS = [CONV]
