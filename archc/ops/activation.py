"""Element-wise activations and softmax: the shape passes through unchanged."""

from __future__ import annotations

from .base import Attr, Inferred, Op, ShapeError


def _same(attrs, inputs):
    return Inferred(inputs[0])


def _softmax_infer(attrs, inputs):
    rank = len(inputs[0]) + 1
    if not -rank <= attrs["dim"] < rank:
        raise ShapeError(f"softmax dim {attrs['dim']} is out of range for a {rank}-d input")
    return Inferred(inputs[0])


def _activation(name: str, cls: str, attrs: dict | None = None, kwargs=lambda a: {}, infer=_same) -> Op:
    def module(a, inputs):
        import torch.nn as nn

        return getattr(nn, cls)(**kwargs(a))

    return Op(name, f"{name} (torch.nn.{cls})", infer, attrs or {}, module=module, label=lambda a: name)


OPS = [
    _activation("relu", "ReLU"),
    _activation("tanh", "Tanh"),
    _activation("sigmoid", "Sigmoid"),
    _activation("silu", "SiLU"),
    _activation("gelu", "GELU", {"approximate": Attr("choice", "none", choices=("none", "tanh"))},
                lambda a: {"approximate": a["approximate"]}),
    _activation("leaky_relu", "LeakyReLU", {"slope": Attr("float", 0.01, "negative slope")},
                lambda a: {"negative_slope": a["slope"]}),
    _activation("softmax", "Softmax", {"dim": Attr("int", 1, "dimension, counting the batch as 0")},
                lambda a: {"dim": a["dim"]}, infer=_softmax_infer),
]
