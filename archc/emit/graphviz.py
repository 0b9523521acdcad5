"""Graphviz diagrams of the IR (no torch).

One node per layer (its op label and module name), merges as their own round nodes so branches and
skips show, tensor shapes on the edges, blocks and groups as nested clusters, the input and every
output, and a title with the totals. With `depth`, each scope at that depth is one node, and a chain
of identical consecutive blocks (same block, same layers, same output shape) is one node `block x N`.
Node ids are the IR's layer names and scope paths, so the same spec always gives the same DOT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

import graphviz
from graphviz import quoting

from ..ir import INPUT, Graph, Node
from ..ops import fmt_shape
from ..report import human

DIRECTIONS = ("TB", "LR")
FONT = "Helvetica"

SCOPE_FILL = "#dde6f3"
CLUSTER_FILL = {"block": "#f8fafd", "dense": "#fdf8f0", "group": "#ffffff"}


@dataclass
class Item:
    """One drawn node: a layer, a collapsed scope, or a run of identical collapsed scopes."""

    id: str
    nodes: list[Node]
    clusters: tuple[str, ...]  # enclosing scopes drawn as clusters, outermost first
    scopes: list[str] = field(default_factory=list)  # the collapsed scopes it stands for (empty: a layer)


def _text(value: str) -> str:
    """Free text (a layer name) as a DOT string: backslashes doubled (DOT reads '\\"' as an escaped
    quote and '\\N' as the node's name), never taken for an HTML label."""
    return quoting.nohtml(value.replace("\\", "\\\\"))


class _Digraph(graphviz.Digraph):
    """A Digraph whose node, edge and graph names may be any text: quoted and escaped, never an
    HTML string, and never split at ':' into a node and a port."""

    _quote = staticmethod(lambda name: quoting.quote(_text(name)))
    _quote_edge = _quote


def drawn_nodes(graph: Graph, depth: int | None = None) -> int:
    """How many nodes the diagram of `graph` at `depth` has (layers or collapsed scopes, input, outputs)."""
    return len(_items(graph, depth or None)) + 1 + len(graph.outputs)


def digraph(graph: Graph, *, depth: int | None = None, direction: str = "TB") -> graphviz.Digraph:
    """The diagram of `graph`; `depth` (>= 1) collapses every scope nested at that depth or deeper."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be >= 0, not {depth}")
    items = _items(graph, depth or None)
    dot = _Digraph(name=graph.name, node_attr={
        "shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "10", "height": "0.3",
        "margin": "0.12,0.04", "color": "#666666", "penwidth": "0.8"},
        edge_attr={"fontname": FONT, "fontsize": "8", "fontcolor": "#555555", "color": "#555555",
                   "arrowsize": "0.6"})
    dot.attr(rankdir=direction, label=_title(graph), labelloc="t", fontname=FONT, nodesep="0.25",
             ranksep="0.3", ordering="out", newrank="true")
    dot.node(INPUT, _html(f"<b>input</b><br/>{escape(fmt_shape(graph.input_shape))}"), shape="invhouse",
             fillcolor="#b6d7a8")
    _emit_tree(dot, graph, items)
    _emit_edges(dot, graph, items)
    return dot


def _emit_edges(dot: graphviz.Digraph, graph: Graph, items: list[Item]) -> None:
    """One edge per pair of drawn nodes an IR edge connects, and one to each output node.

    An edge shows its tensor's shape where the shape is new, where it fans out, where it enters a merge,
    and at collapsed nodes; a chain of layers that keep the shape (conv-bn-relu) stays unlabelled.
    """
    owner = {node.id: item.id for item in items for node in item.nodes}
    owner[INPUT] = INPUT
    fan_out = _fan_out(items, owner)
    collapsed = {item.id for item in items if item.scopes}
    seen = set()
    for item in items:
        for node in item.nodes:
            for source in node.inputs:
                edge = (owner[source], item.id)
                if edge[0] == item.id or edge in seen:
                    continue
                seen.add(edge)
                shown = (item.scopes or edge[0] in collapsed or node.spec.merge or fan_out[edge[0]] > 1
                         or _reshapes(graph, source))
                dot.edge(*edge, label=_shape_label(graph.shape_of(source)) if shown else None)
    for out in graph.outputs:
        out_id = f"output/{out.name}"  # "/" is in no layer name
        name = "output" if out.name == "output" else f"output '{escape(out.name)}'"
        if out.train_only:
            dot.node(out_id, _html(f"<b>{name}</b><br/>(train only)"), shape="house", style="filled,dashed",
                     fillcolor="#eeeeee")
        else:
            dot.node(out_id, _html(f"<b>{name}</b>"), shape="house", style="filled", fillcolor="#b6d7a8")
        dot.edge(owner[out.node], out_id, label=_shape_label(graph.shape_of(out.node)))


def _fan_out(items: list[Item], owner: dict[str, str]) -> dict[str, int]:
    """How many drawn nodes take each drawn node's value."""
    targets: dict[str, set] = {item_id: set() for item_id in owner.values()}
    for item in items:
        for node in item.nodes:
            for source in node.inputs:
                if owner[source] != item.id:
                    targets[owner[source]].add(item.id)
    return {item_id: len(found) for item_id, found in targets.items()}


def _reshapes(graph: Graph, node_id: str) -> bool:
    """Whether the value of `node_id` has another shape than its input (the input counts as new)."""
    if node_id == INPUT:
        return True
    node = graph.by_id[node_id]
    return not node.inputs or graph.shape_of(node.inputs[0]) != node.shape


def _items(graph: Graph, depth: int | None) -> list[Item]:
    items: dict[str, Item] = {}
    for node in graph.nodes:
        if depth and len(node.scopes) >= depth:
            path = node.scopes[depth - 1]
            item = items.setdefault(path, Item(path, [], node.scopes[:depth - 1], [path]))
            item.nodes.append(node)
        else:
            items[node.id] = Item(node.id, [node], node.scopes)
    return _fold_runs(graph, list(items.values())) if depth else list(items.values())


def _fold_runs(graph: Graph, items: list[Item]) -> list[Item]:
    """Fold chains of identical collapsed scopes (each with the merges that follow it) into one item."""
    units: list[list[Item]] = []
    for item in items:
        follows = units and item.nodes[0].spec.merge and not item.scopes and units[-1][0].scopes \
            and units[-1][0].clusters == item.clusters
        if follows:
            units[-1].append(item)
        else:
            units.append([item])
    users: dict[str, set] = {}
    for node in graph.nodes:
        for source in node.inputs:
            users.setdefault(source, set()).add(node.id)
    for out in graph.outputs:
        users.setdefault(out.node, set()).add(f"output/{out.name}")
    result: list[Item] = []
    run: list[list[Item]] = []
    for unit in [*units, None]:
        if unit is not None and run and _continues(graph, users, run[-1], unit):
            run.append(unit)
            continue
        if len(run) > 1:
            nodes = [node for part in run for item in part for node in item.nodes]
            scopes = [part[0].scopes[0] for part in run]
            result.append(Item(f"{scopes[0]}..{scopes[-1]}", nodes, run[0][0].clusters, scopes))
        else:
            result.extend(item for part in run for item in part)
        run = [unit] if unit is not None else []
    return result


def _signature(graph: Graph, unit: list[Item]):
    head = unit[0]
    if not head.scopes:
        return None
    scope = graph.scopes[head.scopes[0]]
    out = scope.output or head.nodes[-1].id
    return (head.clusters, scope.kind, scope.title, tuple(n.label for n in head.nodes), graph.shape_of(out),
            tuple(item.nodes[0].op for item in unit[1:]))


def _continues(graph: Graph, users: dict[str, set], previous: list[Item], unit: list[Item]) -> bool:
    """Whether `unit` repeats `previous` and the two form a chain: `unit` takes its inputs only from
    `previous` (not a parallel branch), and only `unit` takes values of `previous` (nothing skips it)."""
    signature = _signature(graph, unit)
    if signature is None or signature != _signature(graph, previous):
        return False
    before = {node.id for item in previous for node in item.nodes}
    inside = {node.id for item in unit for node in item.nodes}
    takes_from_previous = all(s in before or s in inside for item in unit for n in item.nodes for s in n.inputs)
    used_by_unit = all(users.get(n, set()) <= before | inside for n in before)
    return takes_from_previous and used_by_unit


def _emit_tree(dot: graphviz.Digraph, graph: Graph, items: list[Item]) -> None:
    """Declare the nodes, nesting each inside its clusters in first-appearance order."""
    tree: dict = {}  # path -> (children dict, items list in order)
    root: list = []
    for item in items:
        level, members = tree, root
        for path in item.clusters:
            if path not in level:
                level[path] = ({}, [])
                members.append(path)
            level, members = level[path]
        members.append(item)

    def emit(target: graphviz.Digraph, level: dict, members: list, enclosing: str) -> None:
        for member in members:
            if isinstance(member, Item):
                _node(target, graph, member, enclosing)
                continue
            sub = _Digraph(name=f"cluster_{member}")
            scope = graph.scopes[member]
            style = "rounded,dashed" if scope.kind == "group" else "rounded,filled"
            sub.attr(label=_cluster_label(_relative(scope.path, enclosing), scope.title), labeljust="l",
                     fontname=FONT, fontsize="10", style=style, fillcolor=CLUSTER_FILL.get(scope.kind, "#ffffff"), color="#8a9bb5", penwidth="0.8")
            emit(sub, *level[member], member)
            target.subgraph(sub)

    emit(dot, tree, root, "")


def _node(dot: graphviz.Digraph, graph: Graph, item: Item, enclosing: str) -> None:
    if item.scopes:
        scope = graph.scopes[item.scopes[0]]
        params = sum(n.params for n in item.nodes)
        count = len(item.scopes)
        title = f"{scope.title} x {count}" if count > 1 else scope.title
        first, last = (_relative(path, enclosing) for path in (item.scopes[0], item.scopes[-1]))
        where = f"{first} .. {last}" if count > 1 else first
        out = _exit_node(graph, item)
        name = f"{_small(where)}<br/>" if where != title else ""
        dot.node(item.id, _html(f"<b>{escape(title)}</b><br/>{name}"
                                f"{escape(fmt_shape(out.shape))}, {human(params)} params"),
                 shape="box3d", style="filled", fillcolor=SCOPE_FILL,
                 peripheries="2" if count > 1 else "1", tooltip=_text(item.id))
        return
    node = item.nodes[0]
    draw = node.spec.draw
    if node.module is None:  # functional (merges): no module name to show
        dot.node(item.id, _html(f"<b>{escape(node.label)}</b>"), shape=draw.shape, style="filled",
                 fillcolor=draw.fill, tooltip=_text(node.id))
        return
    name = node.module
    dot.node(item.id, _html(f"<b>{escape(node.label)}</b><br/>{_small(_relative(name, enclosing))}"),
             shape=draw.shape, fillcolor=draw.fill, tooltip=_text(name))


def _exit_node(graph: Graph, item: Item) -> Node:
    """The node whose value leaves the item: the last one used outside it (or the last one)."""
    inside = {n.id for n in item.nodes}
    used = {s for n in graph.nodes if n.id not in inside for s in n.inputs} | {o.node for o in graph.outputs}
    return next((n for n in reversed(item.nodes) if n.id in used), item.nodes[-1])


def _title(graph: Graph) -> str:
    return _html(f'<font point-size="16"><b>{escape(graph.name)}</b></font><br/>'
                 f"{graph.total_params:,} params ({human(graph.total_params)}), "
                 f"{human(graph.total_macs)} MACs, input {escape(fmt_shape(graph.input_shape))}")


def _relative(path: str, enclosing: str) -> str:
    """`path` inside the cluster `enclosing` (the cluster label shows the rest)."""
    return path[len(enclosing) + 1:] if enclosing and path.startswith(enclosing + ".") else path


def _cluster_label(name: str, title: str) -> str:
    extra = f' <font color="#666666">{escape(title)}</font>' if title != name.rsplit(".", 1)[-1] else ""
    return _html(f"<b>{escape(name)}</b>{extra}")


def _shape_label(shape) -> str:
    return _html(escape(fmt_shape(shape)))


def _small(text: str) -> str:
    return f'<font point-size="8" color="#555555">{escape(text)}</font>'


_EMPTY = re.compile(r"<(b|i|font)\b[^>]*></\1>")  # Graphviz refuses an empty element: a model named ''


def _html(body: str) -> str:
    """An HTML-like Graphviz label (the graphviz package passes <...> through unquoted), without the
    empty elements that an empty name would leave."""
    while (emptied := _EMPTY.sub("", body)) != body:
        body = emptied
    return f"<{body}>"
