"""Straight-line `forward` source from the IR, shared by the built module and the emitted Python file.

No torch here. Each needed node becomes one statement; values live in a few
reused local variables (a value's variable is recycled once its last user has
run), module levels are looked up once per call, and layers feeding only
`train_only` outputs run inside `if self.training:` blocks at their place in
the network, so eval mode never computes them.

Two styles of module access:
- `fast` (the built module): `m = self._modules` then `m["conv1"](x)`, which
  avoids nn.Module.__getattr__ (slow, and a LeNet at batch 1 would feel it);
- `readable` (the emitted file): `self.conv1(x)`, `self.features[0](x)`, each
  statement followed by a comment with the shape it makes.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

from ..ir import INPUT, Graph, Node
from ..ops import fmt_shape
from .pyformat import literal

_VALUE_NAME = re.compile(r"^(x|y|z|x\d+)$")


def attribute(name: str) -> bool:
    """Whether `self.<name>` is valid Python that reaches the module named `name`: an ASCII identifier
    that is not a keyword (Python normalises other identifiers, so `self.ﬁ` would be `self.fi`)."""
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name)


def value_names():
    yield from ("x", "y", "z")
    k = 3
    while True:
        yield f"x{k}"
        k += 1


@dataclass
class ModuleTree:
    """The module levels of a graph: for each level path ('' is the model), its child names in order."""

    children: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: Graph) -> "ModuleTree":
        levels: dict[str, dict[str, None]] = {"": {}}
        for node in graph.nodes:
            if node.module is None:
                continue
            parent = ""
            parts = node.module.split(".")
            for part in parts[:-1] if node.spec.tensor else parts:  # a tensor is no module: only its levels
                levels.setdefault(parent, {})[part] = None
                parent = f"{parent}.{part}" if parent else part
            levels.setdefault(parent, {})
        return cls({path: list(names) for path, names in levels.items()})

    def numbered(self, path: str) -> bool:
        """A level whose children are exactly 0, 1, ..., n-1 (an nn.Sequential)."""
        names = self.children.get(path, [])
        return bool(names) and names == [str(i) for i in range(len(names))]

    def is_level(self, path: str) -> bool:
        return path in self.children


def needed_nodes(graph: Graph) -> tuple[list[Node], set[str]]:
    """The nodes some output depends on (in order), and those only `train_only` outputs need."""
    def ancestors(roots) -> set[str]:
        seen, stack = set(), [r for r in roots if r != INPUT]
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            stack.extend(i for i in graph.by_id[node_id].inputs if i != INPUT)
        return seen

    everything = ancestors(o.node for o in graph.outputs)
    for_eval = ancestors(o.node for o in graph.outputs if not o.train_only)
    return [n for n in graph.nodes if n.id in everything], everything - for_eval


def inplace_nodes(graph: Graph, order: list[Node] | None = None) -> set[str]:
    """Nodes that may overwrite their first input (ReLU, a residual add), as torchvision's ResNet does.

    Only ops with an in-place form, whose first input has the node's output shape (an add that
    broadcasts it cannot write into it) and may be overwritten there (`_overwritable`).
    `order`: `needed_nodes(graph)[0]`, if already known.
    """
    order = needed_nodes(graph)[0] if order is None else order
    last = _last_uses(graph, order)
    position = {node.id: k for k, node in enumerate(order)}
    found = set()
    for k, node in enumerate(order):
        source = node.inputs[0]
        if source == INPUT or graph.by_id[source].shape != node.shape:
            continue
        if _inplace_form(node, node.inputs) is not None and _overwritable(graph, source, k, last, position):
            found.add(node.id)
    return found


def _overwritable(graph: Graph, source: str, k: int, last: dict[str, int], position: dict[str, int]) -> bool:
    """Whether the node at `k` may write into `source`: it is not the model's input, it dies at `k`, and
    its op's backward does not need it (`inplace_safe`). An op that returns its input as is in eval mode
    (stochastic depth) passes the write on, so the same must hold of that input at that op."""
    while True:
        if source == INPUT or last[source] != k:
            return False
        producer = graph.by_id[source]
        if not producer.spec.inplace_safe:
            return False
        memory = producer.spec.memory
        if memory is None or not memory.is_view(producer.attrs, False):
            return True
        source, k = producer.inputs[0], position[source]


def _inplace_form(node: Node, args: list[str]):
    """The in-place statement of a functional node, True for a module taking `inplace=`, else None."""
    lower = node.spec.lower
    if node.spec.functional:
        return lower.inplace(node.attrs, args) if lower.inplace else None
    return True if lower.inplace else None


def _last_uses(graph: Graph, order: list[Node]) -> dict[str, int]:
    last = {}
    for k, node in enumerate(order):
        for source in node.inputs:
            last[source] = k
    for output in graph.outputs:
        last[output.node] = len(order)
    return last


class _Levels:
    """Local names for module levels, each bound once per section of the forward."""

    def __init__(self, tree: ModuleTree, style: str):
        self.tree, self.style = tree, style
        self.names: dict[str, str] = {}
        taken = {"self", "torch", "m"}
        for path in tree.children:
            if not path:
                continue
            base = re.sub(r"[^A-Za-z0-9_]", "_", path)  # ASCII: Python normalises other identifiers
            base = base if base.isidentifier() and not keyword.iskeyword(base) else f"_{base}"
            name = base if not _VALUE_NAME.match(base) else f"{base}_"
            k = 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            self.names[path] = name
        self.bound: list[set[str]] = [set()]

    def ref(self, path: str, out: list[str], indent: str) -> str:
        """An expression for level `path` (binding it to a local first if needed)."""
        if not path and self.style == "readable":
            return "self"
        name = self.names.get(path, "m")
        if not any(path in bound for bound in self.bound):
            if path:
                parent, _, leaf = path.rpartition(".")
                expr = self.child(parent, leaf, out, indent) + ("._modules" if self.style == "fast" else "")
            else:
                expr = "self._modules"
            out.append(f"{indent}{name} = {expr}")
            self.bound[-1].add(path)
        return name

    def tensor(self, path: str, out: list[str], indent: str) -> str:
        """An expression for the learnable tensor at `path` (an attribute of its level's module)."""
        parent, _, leaf = path.rpartition(".")
        if parent:
            grand, _, name = parent.rpartition(".")
            owner = self.child(grand, name, out, indent)
        else:
            owner = "self"
        return f"{owner}.{leaf}" if attribute(leaf) else f"getattr({owner}, {literal(leaf)})"

    def child(self, parent: str, leaf: str, out: list[str], indent: str) -> str:
        """An expression for the child `leaf` of level `parent`."""
        base = self.ref(parent, out, indent)
        if self.style == "fast":
            return f"{base}[{literal(leaf)}]"
        if attribute(leaf):
            return f"{base}.{leaf}"
        if self.tree.numbered(parent):
            return f"{base}[{leaf}]"
        return f"getattr({base}, {literal(leaf)})" if not parent else f"{base}[{literal(leaf)}]"


def assign_variables(graph: Graph, order: list[Node]) -> dict[str, str]:
    """The local variable holding each value in `forward` (the input is 'x'); a variable is reused
    once its value's last user has run, so a value lives until its variable is next assigned."""
    last = _last_uses(graph, order)
    names = value_names()
    var = {INPUT: next(names)}
    free: list[str] = []
    for k, node in enumerate(order):
        dying = list(dict.fromkeys(i for i in node.inputs if last.get(i) == k))
        if dying:
            target = var[node.inputs[0]] if node.inputs[0] in dying else var[dying[0]]
        elif free:
            free.sort(key=_name_rank)
            target = free.pop(0)
        else:
            target = next(names)
        for source in dying:
            if var[source] != target and var[source] not in free:
                free.append(var[source])
        var[node.id] = target
    return var


def forward_source(graph: Graph, style: str = "fast", indent: str = "", inplace: set[str] | None = None,
                   comments: bool = True) -> str:
    """The source of `def forward(self, x): ...` computing the graph's outputs (`inplace`: see inplace_nodes;
    `comments`: the shape comments of the readable style)."""
    order, train_only = needed_nodes(graph)
    inplace = inplace_nodes(graph, order) if inplace is None else inplace
    levels = _Levels(ModuleTree.of(graph), style)
    pad = indent + "    "
    lines = [f"{indent}def forward(self, x):"]
    var = assign_variables(graph, order)
    in_training_block = False

    def shape_comment(node: Node) -> str:
        return f"  # {fmt_shape(node.shape)}" if style == "readable" and comments else ""

    for node in order:
        if (node.id in train_only) != in_training_block:
            in_training_block = not in_training_block
            if in_training_block:
                lines.append(f"{pad}if self.training:")
                levels.bound.append(set())
            else:
                levels.bound.pop()
        body = pad + ("    " if in_training_block else "")
        args = [var[i] for i in node.inputs]
        if node.module is None:
            call = node.spec.lower.code(node.attrs, args)
            if node.id in inplace:
                call = None
                lines.append(f"{body}{_inplace_form(node, args)}{shape_comment(node)}")
        elif node.spec.tensor:
            call = node.spec.lower.code(node.attrs, args, levels.tensor(node.module, lines, body))
        else:
            parent, _, leaf = node.module.rpartition(".")
            call = f"{levels.child(parent, leaf, lines, body)}({', '.join(args)})"
        if call is not None:
            lines.append(f"{body}{var[node.id]} = {call}{shape_comment(node)}")
    if in_training_block:
        levels.bound.pop()
    lines.extend(_returns(graph, var, pad))
    return "\n".join(lines) + "\n"


def _name_rank(name: str) -> tuple[int, str]:
    return (0, name) if len(name) == 1 else (1, name.rjust(8))


def _returns(graph: Graph, var: dict[str, str], pad: str) -> list[str]:
    def tuple_of(outputs) -> str:
        names = [var[o.node] for o in outputs]
        return names[0] if len(names) == 1 else ", ".join(names)

    everything = graph.outputs
    for_eval = [o for o in everything if not o.train_only]
    if len(for_eval) == len(everything):
        return [f"{pad}return {tuple_of(everything)}"]
    lines = [f"{pad}if self.training:", f"{pad}    return {tuple_of(everything)}"]
    lines.append(f"{pad}return {tuple_of(for_eval)}" if for_eval else f"{pad}return ()")
    return lines
