"""`archc import model.onnx`: an ONNX graph as torch modules in an fx graph, then imported like any module.

Each ONNX node becomes the torch module archc's op lowers to (weights from the initializers) or one
of the functions `functions.FUNCTIONS` knows; layers are named after their weights (`layer1.0.conv1`
becomes `layer1_0_conv1`) or their op. The graph has no module hierarchy, so the spec is one level.
What an exporter folds away stays folded (batch norms fused into convs, dropout, training-only heads).
"""

from __future__ import annotations

import operator
import re

import torch
from torch import fx, nn

from ..errors import error


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(a: dict, where: str):
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:] or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise error(f"ONNX node '{where}' pads asymmetrically ({pads}), which archc cannot express")
    return tuple(pads[:2])


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(array.copy())


class _Builder:
    def __init__(self, model):
        from onnx import numpy_helper

        self.graph_proto = model.graph
        self.init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.root = nn.Module()
        self.graph = fx.Graph()
        self.values: dict = {}
        self.counts: dict = {}

    def name(self, base: str) -> str:
        base = re.sub(r"\W", "_", base).strip("_") or "layer"
        if base[0].isdigit():
            base = f"l{base}"
        self.counts[base] = self.counts.get(base, 0) + 1
        return base if self.counts[base] == 1 else f"{base}_{self.counts[base]}"

    def module(self, node, module, weight: str | None = None):
        name = self.name(weight.rsplit(".", 1)[0] if weight and "." in weight else node.op_type.lower())
        self.root.add_module(name, module)
        self.values[node.output[0]] = self.graph.call_module(name, (self.values[node.input[0]],))

    def function(self, node, target, *args):
        self.values[node.output[0]] = self.graph.call_function(target, args)

    def conv(self, node, a):
        weight = self.init[node.input[1]]
        bias = self.init.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        groups = a.get("group", 1)
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                         tuple(a.get("strides", (1, 1))), _pads(a, node.name), tuple(a.get("dilations", (1, 1))),
                         groups, bias=bias is not None)
        conv.weight.data = _tensor(weight)
        if bias is not None:
            conv.bias.data = _tensor(bias)
        self.module(node, conv, node.input[1])

    def gemm(self, node, a):
        if a.get("transB", 0) != 1 or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise error(f"ONNX Gemm '{node.name}' is not a linear layer (transB=1, alpha=beta=1)")
        weight = self.init[node.input[1]]
        bias = self.init.get(node.input[2]) if len(node.input) > 2 else None
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        linear.weight.data = _tensor(weight)
        if bias is not None:
            linear.bias.data = _tensor(bias)
        self.module(node, linear, node.input[1])

    def batchnorm(self, node, a):
        scale, shift, mean, var = (self.init[i] for i in node.input[1:5])
        bn = nn.BatchNorm2d(scale.shape[0], eps=a.get("epsilon", 1e-5))
        for key, value in zip(("weight", "bias", "running_mean", "running_var"), (scale, shift, mean, var)):
            getattr(bn, key).data = _tensor(value)
        self.module(node, bn, node.input[1])

    def pool(self, node, a):
        kernel, stride = tuple(a["kernel_shape"]), tuple(a.get("strides", (1, 1)))
        ceil = bool(a.get("ceil_mode", 0))
        if node.op_type == "MaxPool":
            pool = nn.MaxPool2d(kernel, stride, _pads(a, node.name), tuple(a.get("dilations", (1, 1))), ceil_mode=ceil)
        else:
            pool = nn.AvgPool2d(kernel, stride, _pads(a, node.name), ceil_mode=ceil,
                                count_include_pad=bool(a.get("count_include_pad", 0)))
        self.module(node, pool)

    def reduce_mean(self, node, a):
        axes = a.get("axes") or (list(self.init[node.input[1]]) if len(node.input) > 1 else None)
        if sorted(int(x) % 4 for x in axes or ()) != [2, 3] or not a.get("keepdims", 1):
            raise error(f"ONNX ReduceMean '{node.name}' is not a global average pool, which archc cannot express")
        self.module(node, nn.AdaptiveAvgPool2d(1))

    def reshape(self, node, a):
        shape = list(self.init.get(node.input[1], [])) if node.op_type == "Reshape" else None
        if node.op_type == "Flatten" and a.get("axis", 1) != 1 or shape is not None and (
                len(shape) != 2 or shape[0] not in (-1, 0) and shape[1] != -1):
            raise error(f"ONNX {node.op_type} '{node.name}' is not a flatten to [N, features]")
        self.function(node, torch.flatten, self.values[node.input[0]], 1)

    def build(self) -> fx.GraphModule:
        simple = {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "GlobalAveragePool": lambda: nn.AdaptiveAvgPool2d(1)}
        known = {name for name in self.init}
        first = next(i for i in self.graph_proto.input if i.name not in known)
        self.values[first.name] = self.graph.placeholder("x")
        for node in self.graph_proto.node:
            a = _attrs(node)
            kind = node.op_type
            if kind == "Conv":
                self.conv(node, a)
            elif kind == "Gemm":
                self.gemm(node, a)
            elif kind == "BatchNormalization":
                self.batchnorm(node, a)
            elif kind in ("MaxPool", "AveragePool"):
                self.pool(node, a)
            elif kind == "ReduceMean":
                self.reduce_mean(node, a)
            elif kind in ("Reshape", "Flatten"):
                self.reshape(node, a)
            elif kind in simple:
                self.module(node, simple[kind]())
            elif kind == "Add":
                self.function(node, operator.add, *(self.values[i] for i in node.input))
            elif kind == "Concat" and a.get("axis") == 1:
                self.function(node, torch.cat, [self.values[i] for i in node.input], 1)
            elif kind in ("Identity", "Dropout"):
                self.values[node.output[0]] = self.values[node.input[0]]
            else:
                raise error(f"ONNX node '{node.name}' ({kind}) has no archc op",
                            hint="write the op as a plugin (docs/ops.md), or import the torch module instead")
        self.graph.output(self.values[self.graph_proto.output[0].name])
        return fx.GraphModule(self.root, self.graph)


def read_onnx(path: str):
    """(module, input shape without the batch) of an ONNX file."""
    import onnx

    from ..files import Unreadable, check_regular

    try:
        check_regular(path)  # a FIFO or /dev/zero would block or stream forever
    except Unreadable as exc:
        raise error(f"cannot read the ONNX file '{path}': {exc.reason}") from None
    try:
        model = onnx.load(path)
    except Exception as exc:  # noqa: BLE001 - a broken file, reported
        raise error(f"cannot read the ONNX file '{path}': {type(exc).__name__}: {exc}")
    builder = _Builder(model)
    module = builder.build()
    first = next(i for i in model.graph.input if i.name not in builder.init)
    dims = [d.dim_value for d in first.type.tensor_type.shape.dim][1:]
    if not dims or not all(dims):
        raise error(f"the ONNX input '{first.name}' has no fixed shape after the batch: {dims}")
    return module.eval(), tuple(dims)
