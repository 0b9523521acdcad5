"""Ops of the mobile CNN families (MobileNet, EfficientNet, MnasNet, RegNet): hard activations,
the gating multiply of squeeze-excitation and stochastic depth."""

from __future__ import annotations

from .api import Draw, Example, Function, Op, saves, simple_module
from .base import Inferred, ShapeError, fmt_shape
from .merge import gate_of


def _same(attrs, inputs):
    return Inferred(inputs[0])


def _hard(name: str, cls: str) -> Op:
    return Op(name, f"{name} (torch.nn.{cls})", _same, lower=simple_module(cls, inplace=True),
              example=Example({}, [(3, 8, 8)]), memory=saves("input"))


def _mul_infer(attrs, inputs):
    if len(inputs) != 2:
        raise ShapeError(f"mul takes two branches (a tensor and its gate), got {len(inputs)}",
                         "squeeze-excitation: mul: {_x: null, _gate: [...]}")
    a, b = inputs
    if a == b or gate_of(a, b):
        return Inferred(a)
    if gate_of(b, a):
        return Inferred(b)
    raise ShapeError(
        f"mul needs equal shapes or a tensor [C, H, W] and a per-channel gate [C, 1, 1]; got {fmt_shape(a)}, "
        f"{fmt_shape(b)}",
        "end the gate branch with adaptive_avgpool: {out: 1} and a 1x1 conv back to the tensor's channels")


MUL = Op("mul", "element-wise product of two branches; a [N, C, 1, 1] gate broadcasts over H and W "
         "(squeeze-excitation: x * gate(x))", _mul_infer,
         lower=Function(lambda attrs, args: " * ".join(args)), merge=True, inplace_safe=True,
         draw=Draw("#f4cccc", "ellipse"), example=Example({}, [(4, 8, 8), (4, 1, 1)]),
         memory=saves("input", "input1"))  # each factor's gradient needs the other
OPS = [_hard("relu6", "ReLU6"), _hard("hardswish", "Hardswish"), _hard("hardsigmoid", "Hardsigmoid"), MUL]
