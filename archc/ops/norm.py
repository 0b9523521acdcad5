"""Normalisation: batch norm (1-d or 2-d by input rank) and local response norm."""

from __future__ import annotations

from .api import Draw, Example, Init, Memory, Module, Op, Saved, nn
from .base import Attr, Inferred, ShapeError, fmt_shape, numel


def _bn_infer(attrs, inputs):
    (shape,) = inputs
    if len(shape) not in (1, 2, 3):
        raise ShapeError(f"batchnorm expects [N, F], [N, C, L] or [N, C, H, W], got a {len(shape) + 1}-d input")
    return Inferred(shape, 2 * shape[0] if attrs["affine"] else 0)


def _bn_call(attrs, inputs):
    (shape,) = inputs
    return nn("BatchNorm2d" if len(shape) == 3 else "BatchNorm1d", shape[0], eps=attrs["eps"],
              momentum=attrs["momentum"], affine=attrs["affine"])


def _bn_saved(attrs, inputs, output):
    """The input, and the batch's mean and inverse std per channel."""
    channels = inputs[0][0]
    stats = Saved("mean", channels, "stats", batched=False), Saved("invstd", channels, "stats", batched=False)
    return (Saved("input"), *stats)


def _lrn_padded(attrs, inputs, output) -> int:
    """Elements per sample of the squared input padded with size - 1 channels (torch's local_response_norm)."""
    (shape,) = inputs
    return (shape[0] + attrs["size"] - 1) * numel(shape[1:])


def _lrn_saved(attrs, inputs, output):
    """local_response_norm is several torch calls: the input, the padded squares (avg_pool's input),
    and the base and result of the power (pow's input, and the divisor)."""
    n = numel(inputs[0])
    return Saved("input"), Saved("padded", _lrn_padded(attrs, inputs, output)), Saved("base", n), Saved("divisor", n)


def _lrn_scratch(attrs, inputs, output):
    """Besides input and output, eval mode holds at most the squares and their padded copy, or the
    pooled, scaled and shifted values (`div.mul(alpha).add(k)`: three at once, one fewer than the output)."""
    n, padded = numel(inputs[0]), _lrn_padded(attrs, inputs, output)
    return (Saved("padded", padded),) if padded > 2 * n else (Saved("pooled", n), Saved("scaled", n))


def _lrn_infer(attrs, inputs):
    (shape,) = inputs
    if len(shape) < 2:
        raise ShapeError(f"lrn expects [N, C, L] or [N, C, H, W], got {fmt_shape(shape)}",
                         "local response norm works across the channels of an image tensor")
    return Inferred(shape)


def _lrn_call(attrs, inputs):
    return nn("LocalResponseNorm", attrs["size"], alpha=attrs["alpha"], beta=attrs["beta"], k=attrs["k"])


BATCHNORM = Op(
    "batchnorm",
    "batch normalisation (BatchNorm2d on images, BatchNorm1d on features); num_features is inferred",
    _bn_infer,
    {"eps": Attr("pos_float", 1e-5), "momentum": Attr("prob", 0.1), "affine": Attr("bool", True)},
    lower=Module(_bn_call),
    inplace_safe=True,
    init=Init(defaults={"weight": ("constant", {"val": 1.0}), "bias": ("constant", {"val": 0.0})},
              vectors=("weight", "bias"),
              classes="(nn.BatchNorm1d, nn.BatchNorm2d)"),
    draw=Draw("#fff2cc"),
    example=Example({"eps": 1e-3}, [(3, 8, 8)]),
    memory=Memory(_bn_saved),
)
LRN = Op(
    "lrn",
    "local response normalisation across channels (torch.nn.LocalResponseNorm)",
    _lrn_infer,
    {
        "size": Attr("pos_int", doc="number of neighbouring channels"),
        "alpha": Attr("float", 1e-4),
        "beta": Attr("float", 0.75),
        "k": Attr("float", 1.0),
    },
    lower=Module(_lrn_call),
    label=lambda attrs: f"lrn {attrs['size']}",
    draw=Draw("#fff2cc"),
    example=Example({"size": 3}, [(4, 8, 8)]),
    memory=Memory(_lrn_saved, scratch=_lrn_scratch),
)
OPS = [BATCHNORM, LRN]
