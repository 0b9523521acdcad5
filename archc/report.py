"""Per-layer summaries of the IR: rows for the `shapes` table and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Graph
from .ops import fmt_shape, numel

MACS_NOTE = ("MACs are multiply-accumulates of conv and linear layers per sample (torchvision's `_ops` "
             "convention, FLOPs = 2 x MACs); other ops count 0")


@dataclass
class Row:
    name: str
    op: str
    shape: tuple[int, ...]
    params: int
    macs: int
    activations: int
    depth: int


def rows(graph: Graph, depth: int = 0) -> list[Row]:
    """One row per layer; with depth > 0 every scope at that depth becomes one aggregated row."""
    result: list[Row] = []
    open_rows: dict[str, Row] = {}
    for node in graph.nodes:
        if depth and len(node.scopes) >= depth:
            scope_path = node.scopes[depth - 1]
            row = open_rows.get(scope_path)
            if row is None:
                scope = graph.scopes[scope_path]
                row = Row(scope_path, scope.title, node.shape, 0, 0, 0, depth - 1)
                open_rows[scope_path] = row
                result.append(row)
            row.params += node.params
            row.macs += node.macs
            row.activations += numel(node.shape)
            row.shape = graph.shape_of(graph.scopes[scope_path].output or node.id)
            continue
        result.append(Row(node.id, node.label, node.shape, node.params, node.macs, numel(node.shape),
                          len(node.scopes)))
    return result


def totals(graph: Graph) -> dict:
    return {
        "params": graph.total_params,
        "macs": graph.total_macs,
        "activations": sum(numel(n.shape) for n in graph.nodes),
        "layers": len(graph.nodes),
    }


def to_json(graph: Graph, depth: int = 0) -> dict:
    return {
        "name": graph.name,
        "input": list(graph.input_shape),
        "params": graph.params,
        "macs_convention": MACS_NOTE,
        "layers": [
            {"name": r.name, "op": r.op, "shape": list(r.shape), "params": r.params, "macs": r.macs,
             "activations": r.activations}
            for r in rows(graph, depth)
        ],
        "outputs": [{"name": o.name, "node": o.node, "shape": list(graph.shape_of(o.node)),
                     "train_only": o.train_only} for o in graph.outputs],
        "totals": totals(graph),
    }


def human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def table(graph: Graph, depth: int = 0) -> str:
    """A plain-text table in the spirit of torchsummary / d2l's layer_summary."""
    body = [(("  " * r.depth) + r.name, r.op, fmt_shape(r.shape), f"{r.params:,}", f"{r.macs:,}")
            for r in rows(graph, depth)]
    head = ("layer", "op", "output shape", "params", "MACs")
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(5)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    rule = "-" * len(line(head))
    t = totals(graph)
    out = [f"{graph.name}: input {fmt_shape(graph.input_shape)}", rule, line(head), rule, *map(line, body), rule,
           f"params: {t['params']:,} ({human(t['params'])})",
           f"MACs:   {t['macs']:,} ({human(t['macs'])}) per sample",
           f"activations: {t['activations']:,} values per sample ({t['activations'] * 4 / 2**20:.2f} MiB in fp32)",
           f"note: {MACS_NOTE}"]
    for o in graph.outputs:
        suffix = " (train only)" if o.train_only else ""
        out.insert(-4, f"output '{o.name}': {fmt_shape(graph.shape_of(o.node))}{suffix}")
    return "\n".join(out)
