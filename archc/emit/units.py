"""The parts of an unrolled IR that emitted Python can call as one module.

A *unit* is a level of the module tree (or a single layer) that takes one value in and gives one
value out: a layer, a block instance (`kind 'block'` scope), a numbered chain of units (an
nn.Sequential), a named one (a `Chain` helper) or a dense block of units (each one's output concatenated to its input). A *frame*
is what one `forward` runs: the model, or one block instance; inside it, every unit below it is one
statement. Block instances become classes (`classes.py`); this module only finds the pieces.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace

from ..ir import INPUT, Graph, Node, Output
from .forward import ModuleTree, attribute, inplace_nodes, needed_nodes


@dataclass
class Unit:
    path: str
    kind: str  # leaf | block | seq | chain (named children run in turn) | dense
    input: str  # the id of the one value it takes
    output: str  # the id of the value it gives
    nodes: list[Node]
    ids: frozenset = frozenset()

    def __post_init__(self):
        self.ids = frozenset(n.id for n in self.nodes)


def join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def relative(path: str, frame: str) -> str:
    return path[len(frame) + 1:] if frame else path


def _stateless(make, call) -> bool:
    """Whether the module `make(call)` builds has no parameters and no buffers (built on the meta device)."""
    import torch

    with torch.device("meta"):
        return not make(call).state_dict()


def _depth(path: str) -> int:
    return path.count(".") + 1 if path else 0


class Units:
    """The units of a graph, the frame each node runs in, and the in-place layers safe in shared code."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.tree = ModuleTree.of(graph)
        order, self.train_only = needed_nodes(graph)
        self.needed = {n.id for n in order}
        self.users: dict[str, set[str]] = defaultdict(set)
        for node in graph.nodes:
            for source in node.inputs:
                self.users[source].add(node.id)
        self.exits = {o.node for o in graph.outputs}
        self._members: dict[str, list[Node]] | None = None
        self.dense_code: str | None = None
        self.units: dict[str, Unit] = {}
        for node in graph.nodes:
            if node.module is not None and len(node.inputs) == 1:
                self.units[node.module] = Unit(node.module, "leaf", node.inputs[0], node.id, [node])
        for path in sorted((p for p in self.tree.children if p), key=_depth, reverse=True):
            unit = self._unit(path)
            if unit is not None:
                self.units[path] = unit
        self.inplace = self._safe_inplace()
        self.aliases = self._aliases()

    def _aliases(self) -> dict[str, str]:
        """Readable names for stateless layers named like `6` in a named level (state_dict keys stay)."""
        from .lowering import instantiate, node_call

        aliases = {}
        for level, names in self.tree.children.items():
            if self.tree.numbered(level):
                continue
            taken = set(names)
            for name in names:
                unit = self.units.get(join(level, name))
                if attribute(name) or unit is None or unit.kind != "leaf":
                    continue
                node = unit.nodes[0]
                if node.params or not _stateless(instantiate, node_call(self.graph, node, set())):
                    continue
                base = re.sub(r"\W", "_", node.op)
                alias, k = base, 2
                while alias in taken or not attribute(alias):
                    alias, k = f"{base}{k}", k + 1
                taken.add(alias)
                aliases[join(level, name)] = alias
        return aliases

    def name(self, path: str) -> str:
        """The attribute name of the module at `path` in its parent."""
        return self.aliases.get(path, path.rpartition(".")[2])

    def rel(self, path: str, frame: str) -> str:
        """The path of a module relative to a frame, with readable names for renamed layers."""
        parent = path.rpartition(".")[0]
        head = relative(parent, frame) if parent != frame else ""
        return join(head, self.name(path))

    def members(self, path: str) -> list[Node]:
        """The nodes of the level at `path` (all nodes for the model): those whose module is inside
        it, and module-less ones in its scope."""
        if not path:
            return list(self.graph.nodes)
        if self._members is None:
            self._members = defaultdict(list)
            for node in self.graph.nodes:
                parts = node.module.split(".") if node.module is not None else []
                levels = [".".join(parts[:k]) for k in range(1, len(parts))] if parts else node.scopes
                for level in dict.fromkeys(levels):
                    self._members[level].append(node)
        return list(self._members.get(path, ()))

    def _boundary(self, nodes: list[Node]) -> tuple[str, str] | None:
        """(input, output) of a set of nodes that takes one value and gives one, else None."""
        ids = {n.id for n in nodes}
        sources = list(dict.fromkeys(i for n in nodes for i in n.inputs if i not in ids))
        leaving = [n.id for n in nodes if n.id in self.exits or self.users[n.id] - ids]
        if len(sources) != 1 or len(leaving) != 1:
            return None
        if len({n.id in self.train_only for n in nodes}) != 1 or any(n.id not in self.needed for n in nodes):
            return None
        return sources[0], leaving[0]

    def _unit(self, path: str) -> Unit | None:
        scope = self.graph.scopes.get(path)
        nodes = self.members(path)
        ends = self._boundary(nodes) if scope is not None and nodes else None
        if ends is None or any(path not in n.scopes for n in nodes if n.module is not None):
            return None
        unit = Unit(path, "block", ends[0], ends[1], nodes)
        if scope.kind == "block":
            return unit
        children = [self.units.get(join(path, c)) for c in self.tree.children[path]]
        if any(c is None for c in children):
            return None
        if self.tree.numbered(path) and self._chain(unit, children):
            return replace(unit, kind="seq")
        if scope.kind == "dense":
            return replace(unit, kind="dense") if self._dense(unit, children) else None
        return replace(unit, kind="chain") if self._chain(unit, children) else None

    @staticmethod
    def _chain(unit: Unit, children: list[Unit]) -> bool:
        value = unit.input
        for child in children:
            if child.input != value:
                return False
            value = child.output
        return value == unit.output and sum(len(c.nodes) for c in children) == len(unit.nodes)

    def _dense(self, unit: Unit, children: list[Unit]) -> bool:
        """Each child takes the running value v, then v = cat([v, child's output]) (a DenseBlock helper)."""
        inside = {n.id for c in children for n in c.nodes}
        merges = [n for n in unit.nodes if n.id not in inside]
        if len(merges) != len(children):
            return False
        value = unit.input
        for child, merge in zip(children, merges):
            code = merge.spec.lower.code(merge.attrs, ["x", "layer(x)"]) if merge.spec.functional else None
            if child.input != value or merge.inputs != [value, child.output] or code is None:
                return False
            if self.dense_code not in (None, code):
                return False
            self.dense_code, value = code, merge.id
        return value == unit.output

    def frame_of(self, node: Node) -> str:
        """The innermost block unit a node runs in ('' for the model)."""
        paths = [*node.scopes, *([node.module] if node.module else [])]
        blocks = [p for p in paths if self.units.get(p) is not None and self.units[p].kind == "block"
                  and node.id in self.units[p].ids]
        return max(blocks, key=_depth, default="")

    def _safe_inplace(self) -> set[str]:
        """In-place layers whose overwritten input is made inside their own block instance (shared code
        cannot know whether a block's input is still needed elsewhere)."""
        safe = set()
        for node_id in inplace_nodes(self.graph):
            node = self.graph.by_id[node_id]
            source = node.inputs[0]
            frame = self.frame_of(node)
            if not frame or source in self.units[frame].ids:
                safe.add(node_id)
        return safe

    def items(self, frame: str) -> dict[str, Unit]:
        """The outermost units strictly inside a frame, by path, in graph order."""
        found: dict[str, Unit] = {}
        for node in self.members(frame):
            paths = sorted({*node.scopes, *([node.module] if node.module else [])}, key=_depth)
            for path in paths:
                if (not frame or path.startswith(frame + ".")) and path in self.units \
                        and node.id in self.units[path].ids:
                    found.setdefault(path, self.units[path])
                    break
        return found

    def reduced(self, frame: str) -> tuple[Graph, dict[str, str]]:
        """The frame as a graph for forward_source: each unit one node (module path relative to the
        frame), the frame's input named INPUT; and each value id -> a key naming its producer."""
        unit = self.units.get(frame)
        source = unit.input if unit else INPUT
        owner = {n.id: u for u in self.items(frame).values() for n in u.nodes}
        nodes, keys, seen = [], {source: "<in>"}, set()

        def inputs(ids: list[str]) -> list[str]:
            return [INPUT if i == source else i for i in ids]

        for node in self.members(frame):
            item = owner.get(node.id)
            if item is None:
                inside = not frame or node.id.startswith(frame + ".")
                keys[node.id] = "node:" + (relative(node.id, frame) if inside else node.id)
                module = self.rel(node.module, frame) if node.module else None
                nodes.append(replace(node, inputs=inputs(node.inputs), module=module))
            elif item.path not in seen:
                seen.add(item.path)
                out = self.graph.by_id[item.output]
                keys[item.output] = self.rel(item.path, frame)
                nodes.append(replace(out, inputs=inputs([item.input]), module=keys[item.output]))
        outputs = [Output(unit.output, "out")] if unit else self.graph.outputs
        shape = self.graph.shape_of(source)
        return Graph(self.graph.name, shape, nodes, outputs, {}, {}), keys
