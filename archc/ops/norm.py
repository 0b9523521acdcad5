"""Normalisation: batch norm (1-d or 2-d by input rank) and local response norm."""

from __future__ import annotations

from .base import Attr, Inferred, Op, ShapeError, fmt_shape


def _bn_infer(attrs, inputs):
    (shape,) = inputs
    if len(shape) not in (1, 2, 3):
        raise ShapeError(f"batchnorm expects [N, F], [N, C, L] or [N, C, H, W], got a {len(shape) + 1}-d input")
    return Inferred(shape, 2 * shape[0] if attrs["affine"] else 0)


def _bn_module(attrs, inputs):
    import torch.nn as nn

    (shape,) = inputs
    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return cls(shape[0], eps=attrs["eps"], momentum=attrs["momentum"], affine=attrs["affine"])


def _lrn_infer(attrs, inputs):
    (shape,) = inputs
    if len(shape) < 2:
        raise ShapeError(f"lrn expects [N, C, L] or [N, C, H, W], got {fmt_shape(shape)}",
                         "local response norm works across the channels of an image tensor")
    return Inferred(shape)


def _lrn_module(attrs, inputs):
    import torch.nn as nn

    return nn.LocalResponseNorm(attrs["size"], alpha=attrs["alpha"], beta=attrs["beta"], k=attrs["k"])


BATCHNORM = Op(
    "batchnorm",
    "batch normalisation (BatchNorm2d on images, BatchNorm1d on features); num_features is inferred",
    _bn_infer,
    {"eps": Attr("pos_float", 1e-5), "momentum": Attr("prob", 0.1), "affine": Attr("bool", True)},
    module=_bn_module,
    label=lambda attrs: "batchnorm",
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
    module=_lrn_module,
    label=lambda attrs: f"lrn {attrs['size']}",
)
OPS = [BATCHNORM, LRN]
