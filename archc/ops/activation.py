"""Element-wise activations and softmax: the shape passes through unchanged."""

from __future__ import annotations

from .api import Example, Op, saves, simple_module
from .base import Attr, Inferred, ShapeError


def _same(attrs, inputs):
    return Inferred(inputs[0])


def _softmax_infer(attrs, inputs):
    rank = len(inputs[0]) + 1
    if not -rank <= attrs["dim"] < rank:
        raise ShapeError(f"softmax dim {attrs['dim']} is out of range for a {rank}-d input")
    return Inferred(inputs[0])


def _activation(name: str, cls: str, attrs: dict | None = None, kwargs=lambda a: {}, infer=_same,
                inplace: bool = False, example: Example = Example({}, [(3, 8, 8)]), saved: str = "input") -> Op:
    """`saved`: the value its backward reads, "input" or "output" (relu's in-place form saves its output)."""
    return Op(name, f"{name} (torch.nn.{cls})", infer, attrs or {}, lower=simple_module(cls, kwargs, inplace=inplace),
              example=example, memory=saves(saved))


OPS = [
    _activation("relu", "ReLU", inplace=True, saved="output"),
    _activation("tanh", "Tanh", saved="output"),
    _activation("sigmoid", "Sigmoid", saved="output"),
    _activation("silu", "SiLU", inplace=True),
    _activation("gelu", "GELU", {"approximate": Attr("choice", "none", choices=("none", "tanh"))},
                lambda a: {"approximate": a["approximate"]}, example=Example({"approximate": "tanh"}, [(3, 8, 8)])),
    _activation("leaky_relu", "LeakyReLU", {"slope": Attr("float", 0.01, "negative slope")},
                lambda a: {"negative_slope": a["slope"]}, example=Example({"slope": 0.2}, [(3, 8, 8)])),
    _activation("softmax", "Softmax", {"dim": Attr("int", 1, "dimension, counting the batch as 0")},
                lambda a: {"dim": a["dim"]}, infer=_softmax_infer, example=Example({"dim": -1}, [(3, 4, 5)]),
                saved="output"),
]
