"""Learnable tensors used directly in `forward` (nn.Parameter, no module): ConvNeXt's layer scale, ViT's
class token and position embedding."""

from __future__ import annotations

from .api import Example, Op, Tensor, saves
from .base import Attr, Inferred, ShapeError
from .layout import TOKENS, Layout, describe, last_dim_layout, names_of


def _scale_shape(attrs, inputs) -> tuple[int, ...]:
    (shape,) = inputs
    return (shape[-1],) if last_dim_layout(shape) else (shape[0],) + (1,) * (len(shape) - 1)


def _scale_infer(attrs, inputs):
    (shape,) = inputs
    if not shape:
        raise ShapeError(f"layer_scale needs a feature or channel dimension, got {describe(shape)}")
    return Inferred(shape, _scale_shape(attrs, inputs)[0])


LAYER_SCALE = Op(
    "layer_scale",
    "multiply by a learned per-channel scale (ConvNeXt, CaiT): shape [C, 1, 1] on [C, H, W], [D] on the last dim",
    _scale_infer,
    {"init": Attr("float", 1e-6, "initial value of every scale")},
    lower=Tensor(_scale_shape, lambda attrs: ("constant", {"val": attrs["init"]}),
                 lambda attrs, args, tensor: f"{tensor} * {args[0]}"),
    label=lambda attrs: f"layer scale {attrs['init']:g}",
    example=Example({"init": 0.5}, [(4, 8, 8)]),
    memory=saves("input"),  # the scale's gradient needs the input
)


def _tokens(op: str, shape) -> tuple[int, int]:
    if names_of(shape) != TOKENS:
        raise ShapeError(f"{op} expects tokens [N, L, D], got {describe(shape)}",
                         "make tokens with flatten and permute (flatten: {start: 2}, permute: {dims: [0, 2, 1]})")
    return shape


def _class_token_infer(attrs, inputs):
    tokens, dim = _tokens("class_token", inputs[0])
    return Inferred(Layout((tokens + 1, dim), TOKENS), dim)


def _position_infer(attrs, inputs):
    tokens, dim = _tokens("position_embedding", inputs[0])
    if attrs["length"] != tokens:
        raise ShapeError(f"position_embedding has length {attrs['length']} but its input has {tokens} tokens "
                         f"({describe(inputs[0])})",
                         "the length must be the token count: (image_size / patch_size)^2 (+ 1 with a class "
                         "token); set the image size param to match --input")
    return Inferred(inputs[0], tokens * dim)


CLASS_TOKEN = Op(
    "class_token",
    "prepend a learned token to the tokens [L, D] -> [L + 1, D] (ViT's class token, zero-initialised)",
    _class_token_infer,
    lower=Tensor(lambda attrs, inputs: (1, 1, inputs[0][-1]), lambda attrs: ("zeros", {}),
                 lambda attrs, args, tensor: f"torch.cat([{tensor}.expand({args[0]}.shape[0], -1, -1), {args[0]}], 1)"),
    label=lambda attrs: "class token",
    example=Example({}, [Layout((4, 6), TOKENS)]),
    memory=saves(),  # torch.cat's backward needs only the sizes
)
POSITION_EMBEDDING = Op(
    "position_embedding",
    "add a learned embedding per token position (ViT; normal(std=0.02) at init)",
    _position_infer,
    {"length": Attr("pos_int", doc="the number of positions; must equal the token count"),
     "std": Attr("pos_float", 0.02, "standard deviation of the initial values")},
    lower=Tensor(lambda attrs, inputs: (1, *inputs[0]), lambda attrs: ("normal", {"std": attrs["std"]}),
                 lambda attrs, args, tensor: f"{args[0]} + {tensor}"),
    label=lambda attrs: f"position embedding {attrs['length']}",
    example=Example({"length": 4, "std": 0.5}, [Layout((4, 6), TOKENS)]),
    memory=saves(),
)
OPS = [LAYER_SCALE, CLASS_TOKEN, POSITION_EMBEDDING]
