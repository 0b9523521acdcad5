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
import keyword
import linecache

import torch
from torch import nn

from ..errors import error
from ..ir import Graph
from .forward import ModuleTree, forward_source, inplace_nodes
from .lowering import instantiate, node_call
from .prototypes import Prototypes

_CLASSES: dict[tuple[str, str, str], type] = {}


def class_name(graph_name: str) -> str:
    """'resnet18' -> 'Resnet18', 'googlenet_d2l' -> 'GooglenetD2l' (a valid class name)."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in graph_name).split()
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    name = name if name[0].isalpha() else f"Model{name}"
    return f"{name}Model" if keyword.iskeyword(name) else name  # 'none' -> 'None' is taken


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


def assemble(graph: Graph, make_leaf, inplace: set[str], device: str | None = None) -> nn.Module:
    """Build the model: `make_leaf(node)` gives each node's module; levels and the class come from the IR.

    `device`: where learnable tensors (not modules) are made ("meta": left empty)."""
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
        owner = levels[".".join(parts[:-1])]
        if node.spec.tensor:
            owner.register_parameter(parts[-1], learnable_tensor(graph, node, device))
        else:
            _attach(owner, parts[-1], make_leaf(node), node)
    return model


def learnable_tensor(graph: Graph, node, device: str | None = None) -> nn.Parameter:
    """The nn.Parameter of a tensor-lowered node, filled as its op says (left empty on the meta device)."""
    lower = node.spec.lower
    tensor = torch.empty(lower.shape(node.attrs, [graph.shape_of(i) for i in node.inputs]), device=device)
    if not tensor.is_meta:
        scheme, args = lower.fill(node.attrs)
        with torch.no_grad():
            getattr(nn.init, f"{scheme}_")(tensor, **args)
    return nn.Parameter(tensor)


def leaf_module(graph: Graph, node, inplace: set[str], prototypes: Prototypes | None = None,
                **factory) -> nn.Module:
    """The torch module of one node (those the forward runs in place get `inplace=True`).

    `prototypes`: make a built-in op's module as a copy of an equal layer's prototype (prototypes.py).
    `factory`: `device=` for the lowerings that take it (`Module(factory=True)`).
    """
    if not node.spec.plugin:
        call = node_call(graph, node, inplace)
        if prototypes is not None:
            return prototypes.module(call, lambda: instantiate(call, **factory), factory)
        return instantiate(call, **factory)
    try:
        return instantiate(node_call(graph, node, inplace), **factory)
    except Exception as exc:
        raise error(f"plugin bug: op '{node.op}' from {node.spec.plugin} could not make its module: "
                    f"{type(exc).__name__}: {exc}", node.span, node.path,
                    "fix the plugin's lowering; archc --debug shows the traceback") from exc


def build_module(graph: Graph, device: str | None = None) -> nn.Module:
    """The nn.Module of a graph, initialised by its nodes' `init` rules (see archc.init) or torch's defaults.

    `device="meta"` builds the structure without allocating or initialising anything.
    """
    from ..init import create, resolve

    resolve(graph)
    inplace = inplace_nodes(graph)
    prototypes = Prototypes(meta=device == "meta")
    if device == "meta":  # no torch.device("meta") mode around it all: it slows every module made inside
        return assemble(graph, lambda node: _on_meta(graph, node, inplace, prototypes), inplace, "meta")
    return assemble(graph, lambda node: create(
        node, lambda **factory: leaf_module(graph, node, inplace, prototypes, **factory)), inplace)


def _on_meta(graph: Graph, node, inplace: set[str], prototypes: Prototypes) -> nn.Module:
    if node.spec.plugin:
        with torch.device("meta"):
            return leaf_module(graph, node, inplace)
    return leaf_module(graph, node, inplace, prototypes)
