"""Layer norm over the features of each position: the channels of [C, H, W], the last dim otherwise."""

from __future__ import annotations

from .api import Call, Draw, Example, Init, Memory, Module, Op, Saved, nn
from .base import Attr, Inferred, ShapeError, numel
from .layout import describe, last_dim_layout


def _channels_first(shape) -> bool:
    return len(shape) == 3 and not last_dim_layout(shape)


def _infer(attrs, inputs):
    (shape,) = inputs
    if not (_channels_first(shape) or last_dim_layout(shape)):
        raise ShapeError(f"layernorm cannot tell the features of {describe(shape)}",
                         "it normalises the channels of [C, H, W] or the last dim of [F], tokens [L, D] and "
                         "channels-last [H, W, C]; permute to one of those first")
    features = shape[0] if _channels_first(shape) else shape[-1]
    return Inferred(shape, 2 * features if attrs["affine"] else 0)


def _call(attrs, inputs):
    (shape,) = inputs
    kwargs = {"eps": attrs["eps"], "elementwise_affine": attrs["affine"]}
    if _channels_first(shape):
        return Call("archc.nn.layers.LayerNorm2d", (shape[0],), kwargs)
    return nn("LayerNorm", shape[-1], **kwargs)


def _stats(attrs, inputs, output):
    """The mean and 1/std of every position (torch returns them in eval mode too)."""
    positions = numel(output) // (output[0] if _channels_first(output) else output[-1])
    return Saved("mean", positions, "stats"), Saved("rstd", positions, "stats")


LAYERNORM = Op(
    "layernorm",
    "layer norm (torch.nn.LayerNorm) over the last dim; over the channels of [C, H, W] (ConvNeXt's LayerNorm2d)",
    _infer,
    {"eps": Attr("pos_float", 1e-5), "affine": Attr("bool", True, "learnable weight and bias")},
    lower=Module(_call),
    label=lambda attrs: "layernorm",
    inplace_safe=False,
    init=Init(defaults={"weight": ("constant", {"val": 1.0}), "bias": ("constant", {"val": 0.0})},
              vectors=("weight", "bias"),
              classes="nn.LayerNorm"),
    draw=Draw("#fff2cc"),
    example=Example({"eps": 1e-6}, [(4, 8, 8)]),
    memory=Memory(lambda attrs, inputs, output: (Saved("input"), *_stats(attrs, inputs, output)), scratch=_stats),
)
OPS = [LAYERNORM]
