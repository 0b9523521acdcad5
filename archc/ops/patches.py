"""Patch embedding: non-overlapping patches, each projected linearly (a conv with kernel = stride = patch)."""

from __future__ import annotations

from .api import Draw, Example, Init, Module, Op, nn, saves
from .base import Attr, Inferred, ShapeError, expect_rank


def _infer(attrs, inputs):
    (shape,) = inputs
    expect_rank("patch_embed", shape, 3, "patch_embed cuts an image [C, H, W] into patches")
    c, h, w = shape
    patch = attrs["patch"]
    for size, axis in ((h, "height"), (w, "width")):
        if size % patch:
            raise ShapeError(f"patch size {patch} does not divide the image {axis} {size}",
                             f"use an input size that is a multiple of {patch} (--input), or another patch size")
    out = attrs["out"]
    tokens = (h // patch) * (w // patch)
    weights = out * c * patch * patch
    return Inferred((out, h // patch, w // patch), weights + (out if attrs["bias"] else 0), weights * tokens)


PATCH_EMBED = Op(
    "patch_embed",
    "non-overlapping patch x patch patches, each projected to `out` channels (torch.nn.Conv2d, kernel = stride)",
    _infer,
    {"out": Attr("pos_int", doc="output channels (the embedding dim)"),
     "patch": Attr("pos_int", doc="patch size; must divide the image height and width"),
     "bias": Attr("bool", True)},
    lower=Module(lambda attrs, inputs: nn("Conv2d", inputs[0][0], attrs["out"], attrs["patch"], stride=attrs["patch"],
                                          bias=attrs["bias"]), factory=True),
    label=lambda attrs: f"patches {attrs['patch']}x{attrs['patch']}, {attrs['out']}",
    inplace_safe=True,
    init=Init(classes="nn.Conv2d", default_bias=True),
    draw=Draw("#cfe2f3"),
    example=Example({"out": 6, "patch": 4}, [(3, 8, 8)]),
    memory=saves("input"),
)
OPS = [PATCH_EMBED]
