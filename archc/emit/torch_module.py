"""The IR as a real torch.nn.Module.

The module tree follows the nodes' dotted `module` paths: a level numbered
0..n-1 is an nn.Sequential (indexable), any other level an nn.ModuleDict, so
`state_dict()` keys are the spec's names. `forward` is generated source
(`forward.py`) compiled into a class made for the model; the class can be
re-made from that source, so models pickle, deep-copy and unpickle in a fresh
process like any other module.
"""

from __future__ import annotations

import hashlib
import linecache

import torch
from torch import nn

from ..errors import error
from ..ir import Graph
from .forward import ModuleTree, forward_source, inplace_nodes

_CLASSES: dict[tuple[str, str, str], type] = {}


def class_name(graph_name: str) -> str:
    """'resnet18' -> 'Resnet18', 'googlenet_d2l' -> 'GooglenetD2l' (a valid class name)."""
    words = "".join(c if c.isalnum() else " " for c in graph_name).split()
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    return name if name[0].isalpha() else f"Model{name}"


def model_class(name: str, base: str, source: str) -> type:
    """The nn.Module subclass `name` (based on nn.Module or nn.Sequential) whose forward is `source`."""
    key = (name, base, source)
    if key not in _CLASSES:
        filename = f"<archc {name} {hashlib.sha1(source.encode()).hexdigest()[:10]}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace = {"torch": torch}
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102  (source generated from the IR)
        bases = (nn.Sequential,) if base == "Sequential" else (nn.Module,)
        _CLASSES[key] = type(name, bases, {
            "forward": namespace["forward"],
            "__reduce_ex__": _reduce_ex,
            "__module__": __name__,
            "archc_source": source,
        })
    return _CLASSES[key]


def _reduce_ex(self, protocol):
    cls = type(self)
    base = "Sequential" if issubclass(cls, nn.Sequential) else "Module"
    return _restore, (cls.__name__, base, cls.archc_source), self.__getstate__()


def _restore(name: str, base: str, source: str):
    cls = model_class(name, base, source)
    return cls.__new__(cls)


def _attach(parent: nn.Module, name: str, child: nn.Module, node) -> None:
    try:
        parent.add_module(name, child)  # KeyError: `name` is an attribute (names are checked identifiers)
    except KeyError:
        raise error(f"the layer name '{name}' clashes with an attribute of torch's {type(parent).__name__}",
                    node.span, node.path, "rename the layer (e.g. add a suffix)") from None


def assemble(graph: Graph, make_leaf, inplace: set[str]) -> nn.Module:
    """Build the model: `make_leaf(node)` gives each node's module; levels and the class come from the IR."""
    tree = ModuleTree.of(graph)
    cls = model_class(class_name(graph.name), "Sequential" if tree.numbered("") else "Module",
                      forward_source(graph, "fast", inplace=inplace))
    model = cls()
    levels = {"": model}
    for node in graph.nodes:
        if node.module is None:
            continue
        parts = node.module.split(".")
        for depth in range(1, len(parts)):
            path = ".".join(parts[:depth])
            if path not in levels:
                level = nn.Sequential() if tree.numbered(path) else nn.ModuleDict()
                _attach(levels[".".join(parts[:depth - 1])], parts[depth - 1], level, node)
                levels[path] = level
        _attach(levels[".".join(parts[:-1])], parts[-1], make_leaf(node), node)
    return model


def leaf_module(graph: Graph, node, inplace: set[str], **factory) -> nn.Module:
    """The torch module of one node (ReLUs the forward may run in place are marked so).

    `factory`: `device=` for the ops that take it (see archc.ops.base.Op).
    """
    module = node.spec.module(node.attrs, [graph.shape_of(i) for i in node.inputs], **factory)
    if node.id in inplace and hasattr(module, "inplace"):
        module.inplace = True
    return module


def build_module(graph: Graph, init_rules: dict | None = None, device: str | None = None) -> nn.Module:
    """The nn.Module of a graph, initialised by `init_rules` (see archc.init) or torch's defaults.

    `device="meta"` builds the structure without allocating or initialising anything.
    """
    from ..init import Initializer

    inplace = inplace_nodes(graph)
    if device == "meta":
        with torch.device("meta"):
            return assemble(graph, lambda node: leaf_module(graph, node, inplace), inplace)
    initializer = Initializer(init_rules or {})
    return assemble(graph, lambda node: initializer.create(
        node.op, node.params, lambda **factory: leaf_module(graph, node, inplace, **factory)), inplace)
