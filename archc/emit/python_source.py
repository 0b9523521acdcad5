"""A standalone, readable Python file (it imports only torch, plus any plugin it uses) defining the spec's nn.Module.

Lowered from the IR alone, with the state_dict keys and the computation of `archc.build`. By default
one class per block of the spec (`structured.py`, from `units.py`, `classes.py`, `ctors.py`); with
`flat`, the form below: the module tree of `archc.build` with a forward in the `readable` style of
`forward.py`. Either way each layer's constructor call is its op's lowering (`archc.ops.Call`) written
out with non-default arguments only, and the spec's `init:` rules (`init_plan`) become torchvision-style
code at the end of the model's `__init__`. The archc.nn classes the layers use are copied in (`inline.py`).
"""

from __future__ import annotations

from .. import __version__
from ..ir import Graph
from ..ops import REGISTRY, fmt_shape
from .inline import Inlined
from .forward import ModuleTree, attribute, forward_source, inplace_nodes
from .lowering import call_source, node_call, source_name
from .pyformat import literal
from .torch_module import class_name


class _Writer:
    """Source text for the module tree of one graph, collecting the imports its calls need."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.tree = ModuleTree.of(graph)
        self.inplace = inplace_nodes(graph)
        self.leaves = {node.module: node for node in graph.nodes if node.module is not None and not node.spec.tensor}
        self.imports: set[str] = set()

    def child(self, path: str, indent: str) -> str:
        """The expression that builds the module at `path` (a container with its children, or a layer)."""
        if path in self.leaves:
            text, needs = call_source(node_call(self.graph, self.leaves[path], self.inplace))
            if needs:
                self.imports.add(needs)
            return text
        inner = indent + "    "
        names = self.tree.children[path]
        if self.tree.numbered(path):
            items = [f"{inner}{self.child(self.join(path, n), inner)}," for n in names]
            return "nn.Sequential(\n" + "\n".join(items) + f"\n{indent})"
        items = [f'{inner}"{n}": {self.child(self.join(path, n), inner)},' for n in names]
        return "nn.ModuleDict({\n" + "\n".join(items) + f"\n{indent}}})"

    @staticmethod
    def join(parent: str, name: str) -> str:
        return f"{parent}.{name}" if parent else name

    def access(self, path: str) -> str:
        """`self.features[0]`: the expression for the module at `path` inside the model."""
        expr, parent = "self", ""
        for name in path.split("."):
            if self.tree.numbered(parent):
                expr += f"[{name}]"
            elif attribute(name):
                expr += f".{name}"
            else:
                expr = f"getattr({expr}, {literal(name)})" if not parent else f"{expr}[{literal(name)}]"
            parent = self.join(parent, name)
        return expr


def _init_call(target: str, scheme: str, args: dict) -> str:
    return f"nn.init.{scheme}_({target}" + "".join(f", {k}={v!r}" for k, v in args.items()) + ")"


def _classes(graph: Graph, kind: str) -> str:
    """The module classes of an op kind as source: its `Init.classes`, else the classes its lowering makes."""
    if REGISTRY[kind].init.classes:
        return REGISTRY[kind].init.classes
    names = sorted({source_name(node_call(graph, n, set()).target)[0] for n in graph.nodes if n.op == kind})
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def init_plan(graph: Graph) -> tuple[list, list]:
    """The spec's `init:` as code to write: (module classes, [(tensor, scheme, args)]) for each kind
    rule (a torchvision-style loop over self.modules()), and (module path, tensor, scheme, args) for
    each path rule, and for a kind rule's tensors that only some of its layers have (Swin v1 and v2)."""
    from ..init import selects, tensor_rules

    loops, paths = [], []
    for key, raw in graph.init.items():
        op = REGISTRY.get(key)
        rules = {t: r for t, r in tensor_rules(raw).items() if r[0] != "default"}
        if op is None:
            nodes = [n for n in graph.nodes if n.spec.init and selects(key, None, n)]
        else:
            rules = {t: r for t, r in rules.items() if op.init.defaults.get(t) != r}
            nodes = [n for n in graph.nodes if n.op == key]
            common = set.intersection(*(set(op.init.of(n.attrs)) for n in nodes)) if nodes else set()
            if rules.keys() & common:                       # tensors every layer of the kind has: one loop
                loops.append((_classes(graph, key), [(t, *r) for t, r in rules.items() if t in common]))
            rules = {t: r for t, r in rules.items() if t not in common}
        for node in nodes:
            having = node.spec.init.of(node.attrs)
            paths.extend((node.module, t, scheme, args) for t, (scheme, args) in rules.items() if t in having)
    return loops, paths


def composites(graph: Graph, loops: list) -> str | None:
    """The layer classes (as source) that hold modules of a class the kind loops initialise, such as
    Swin's window attention and its nn.Linear parts: the loops skip those parts, which keep their own
    op's init as in `archc.build` (a kind rule reaches the spec's own layers of that kind only)."""
    import torch

    from .lowering import resolve
    from .torch_module import leaf_module

    if not loops:
        return None
    kinds = {key for key in graph.init if key in REGISTRY}
    classes, layers = set(), {}
    for node in graph.nodes:
        if node.module is None or node.spec.tensor:
            continue
        target = node_call(graph, node, set()).target
        layers.setdefault(target, node)  # one layer of each class is enough to see what it holds
        if node.op in kinds:
            classes.add(resolve(target))
    found = []
    with torch.device("meta"):
        for target, node in layers.items():
            module = leaf_module(graph, node, set())
            if any(isinstance(part, tuple(classes)) for part in module.modules() if part is not module):
                found.append(source_name(target)[0])
    if not found:
        return None
    return found[0] if len(found) == 1 else f"({', '.join(sorted(found))})"


def skip_lines(inside: str | None, indent: str) -> list[str]:
    """Before the kind loops: the parts of `inside` layers, which the loops pass over."""
    if inside is None:
        return []
    inner = indent + "    "
    return [f"{indent}inside = {{", f"{inner}part", f"{inner}for layer in self.modules()",
            f"{inner}if isinstance(layer, {inside})", f"{inner}for part in layer.modules()",
            f"{inner}if part is not layer", f"{indent}}}"]


def skip_test(inside: str | None, indent: str) -> list[str]:
    """First in the kind loop: skip the parts of layers made of several modules."""
    if inside is None:
        return []
    return [f"{indent}if module in inside:  # a part of a composite layer: its own init",
            f"{indent}    continue"]


def tensor_access(owner: str, tensor: str) -> str:
    """The expression of a module's tensor: `owner.fc1.weight`, a numbered child indexed (`owner.cpb_mlp[0].weight`)."""
    return owner + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in tensor.split("."))


def _init_source(writer: _Writer, indent: str) -> list[str]:
    """The spec's `init:` as code: a torchvision-style loop per kind rule, then one line per path rule."""
    loops, paths = init_plan(writer.graph)
    inside = composites(writer.graph, loops)
    lines = [*skip_lines(inside, indent), f"{indent}for module in self.modules():",
             *skip_test(inside, indent + "    ")] if loops else []
    for k, (classes, rules) in enumerate(loops):
        lines.append(f"{indent}    {'if' if not k else 'elif'} isinstance(module, {classes}):")
        for tensor, scheme, args in rules:
            lines.append(f"{indent}        if {tensor_access('module', tensor)} is not None:")
            lines.append(f"{indent}            {_init_call(tensor_access('module', tensor), scheme, args)}")
    for path, tensor, scheme, args in paths:
        lines.append(f"{indent}{_init_call(tensor_access(writer.access(path), tensor), scheme, args)}")
    return lines


def tensor_lines(graph: Graph, access, indent: str) -> list[str]:
    """One line per learnable tensor (layer scales, class tokens): `level.name = nn.Parameter(...)`;
    `access(path)` is the expression of the module at that path."""
    lines = []
    for node in graph.nodes:
        if node.spec.tensor:
            lower, (parent, _, leaf) = node.spec.lower, node.module.rpartition(".")
            shape = lower.shape(node.attrs, [graph.shape_of(i) for i in node.inputs])
            owner = access(parent) if parent else "self"
            value = _init_call(f"torch.empty{tuple(shape)!r}", *lower.fill(node.attrs))
            lines.append(f"{indent}{owner}.{leaf} = nn.Parameter({value})" if attribute(leaf) else
                         f"{indent}{owner}.register_parameter({literal(leaf)}, nn.Parameter({value}))")
    return lines


def _params_lines(params: dict) -> list[str]:
    """The spec's resolved params for the header, wrapped at 100 columns."""
    items = [f"{key}={value!r}" for key, value in params.items()]
    lines: list[str] = []
    for k, item in enumerate(items):
        item += "," if k < len(items) - 1 else ""
        if lines and len(lines[-1]) + 1 + len(item) <= 100:
            lines[-1] += " " + item
        else:
            lines.append(("Params: " if not lines else "    ") + item)
    return lines


def _docstring_safe(text: str) -> str:
    """Text that a triple-quoted string literal reproduces exactly (file names and params are free text)."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"""')
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in text)


def model_name(graph: Graph, taken: frozenset[str]) -> str:
    """The model class's name: the spec's, unless a definition copied into the file takes it."""
    name = class_name(graph.name)
    while name in taken:
        name += "Model"
    return name


def _file(graph: Graph, origin: str | None, text: str, needs: set[str], copied: Inlined) -> str:
    """The whole file: a header naming the spec and what the file needs, the imports, the archc.nn
    definitions it uses, then `text`."""
    plugins = sorted({i.split()[1] for i in needs if i.startswith("from ")})
    header = [f"{graph.name}: generated by archc {__version__}" + (f" from {origin}" if origin else "")
              + (f"; needs torch and {', '.join(plugins)}." if plugins else "; needs only torch."), "",
              *_params_lines(graph.params),
              f"Input {fmt_shape(graph.input_shape)}, {graph.total_params:,} parameters. "
              + "Load weights with model.load_state_dict(...)."]
    body = f"{copied.source}\n\n\n{text}" if copied.source else text
    first = ["import torch"] if "torch." in body else []
    first.append("from torch import nn")
    imports = first + sorted(set(needs) | copied.imports - set(first))
    return "\n".join(['"""' + _docstring_safe("\n".join(header)), '"""', "", *imports, "", "", body])


def module_source(graph: Graph, origin: str | None = None, flat: bool = False) -> str:
    """The Python source of the graph's module: one class per block of the spec, or (`flat`) one class
    whose forward runs every layer of every block instance in turn."""
    copied = Inlined.of(graph)
    if not flat:
        from .structured import structured_source

        return _file(graph, origin, *structured_source(graph, copied.names), copied)
    writer = _Writer(graph)
    name = model_name(graph, copied.names)
    numbered = writer.tree.numbered("")
    body = [f"class {name}(nn.{'Sequential' if numbered else 'Module'}):", "    def __init__(self):"]
    pad = " " * 8
    children = writer.tree.children[""]
    if numbered:
        body.append(f"{pad}super().__init__(")
        body.extend(f"{pad}    {writer.child(child, pad + '    ')}," for child in children)
        body.append(f"{pad})")
    else:
        body.append(f"{pad}super().__init__()")
        for child in children:
            source = writer.child(child, pad)
            body.append(f"{pad}self.{child} = {source}" if attribute(child)
                        else f"{pad}self.add_module({literal(child)}, {source})")
    body.extend(tensor_lines(writer.graph, writer.access, pad))
    body.extend(_init_source(writer, pad))
    body.extend(f"{pad}self.get_submodule({prefix!r}).requires_grad_(False)  # freeze" for prefix in graph.frozen)
    body.append("")
    body.append(forward_source(graph, "readable", indent="    "))
    return _file(graph, origin, "\n".join(body), writer.imports, copied)


def python_source(source, *, input_shape=None, plugins=(), flat: bool = False, **params) -> str:
    """Standalone Python source for a spec (path, dict or archc.Source); `flat`: see module_source."""
    from ..pipeline import compile_spec

    compiled = compile_spec(source, params, input_shape, plugins=plugins)
    origin = compiled.source.origin if compiled.source.kind == "file" else None
    return module_source(compiled.graph, origin, flat)


__all__ = ["python_source", "module_source"]
