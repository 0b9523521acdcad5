"""Per-layer summaries of the IR: rows for the `shapes` table and its JSON form (torchinfo's columns)."""

from __future__ import annotations

from dataclasses import dataclass

from . import freeze
from .ir import Graph, Node
from .ops import fmt_shape, numel

MACS_NOTE = ("MACs are multiply-accumulates of conv, linear and attention layers per sample (torchvision's `_ops` "
             "convention, FLOPs = 2 x MACs); other ops count 0")
KERNEL_NOTE = "kernel: size, s stride, p padding, d dilation, g groups (defaults left out)"
GEOMETRY = (("stride", "s", (1, 1)), ("padding", "p", (0, 0)), ("dilation", "d", (1, 1)), ("groups", "g", 1))
FP32_MIB = 4 / 2**20  # bytes of a float32 value, in MiB


@dataclass
class Row:
    name: str
    op: str
    kernel: str
    inputs: list[tuple[int, ...]]
    shape: tuple[int, ...]
    params: int
    trainable: int
    macs: int
    activations: int
    depth: int


def _size(value) -> str:
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    return f"{pair[0]}x{pair[1]}"


def kernel(node: Node) -> str:
    """'7x7 s2 p3' for a layer with a kernel (conv, pools), else ''."""
    attrs = node.attrs
    if "kernel" not in attrs:
        return ""
    parts = [_size(attrs["kernel"])]
    for key, tag, default in GEOMETRY:
        value = attrs.get(key)
        if value is not None and value != default and value != 1:
            parts.append(tag + (str(value) if isinstance(value, int) else
                                str(value[0]) if value[0] == value[1] else _size(value)))
    if attrs.get("ceil_mode"):
        parts.append("ceil")
    return " ".join(parts)


def _leaf(graph: Graph, node: Node) -> Row:
    frozen = any(freeze.covers(p, node.module) for p in graph.frozen)
    return Row(node.id, node.op if "kernel" in node.attrs else node.label, kernel(node),
               [graph.shape_of(i) for i in node.inputs], node.shape, node.params, 0 if frozen else node.params,
               node.macs, numel(node.shape), len(node.scopes))


def rows(graph: Graph, depth: int = 0) -> list[Row]:
    """One row per layer; with depth > 0 every scope at that depth becomes one aggregated row."""
    result: list[Row] = []
    open_rows: dict[str, Row] = {}
    for node in graph.nodes:
        leaf = _leaf(graph, node)
        if not (depth and len(node.scopes) >= depth):
            result.append(leaf)
            continue
        scope_path = node.scopes[depth - 1]
        row = open_rows.get(scope_path)
        if row is None:
            scope = graph.scopes[scope_path]
            kind = scope.title if scope.kind == "block" else scope.kind
            row = open_rows[scope_path] = Row(scope_path, kind, "", leaf.inputs, node.shape, 0, 0, 0, 0, depth - 1)
            result.append(row)
        row.params += leaf.params
        row.trainable += leaf.trainable
        row.macs += leaf.macs
        row.activations += leaf.activations
        row.shape = graph.shape_of(graph.scopes[scope_path].output or node.id)
    return result


def totals(graph: Graph) -> dict:
    params = graph.total_params
    frozen = freeze.count(graph, graph.frozen)
    activations = sum(numel(n.shape) for n in graph.nodes)
    return {
        "params": params,
        "trainable_params": params - frozen,
        "non_trainable_params": frozen,
        "macs": graph.total_macs,
        "activations": activations,
        "layers": len(graph.nodes),
        "params_mib": params * FP32_MIB,
        "activations_mib": activations * FP32_MIB,
        "input_mib": numel(graph.input_shape) * FP32_MIB,
    }


def _percent(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def to_json(graph: Graph, depth: int = 0) -> dict:
    total = graph.total_params
    return {
        "name": graph.name,
        "input": list(graph.input_shape),
        "params": graph.params,
        "freeze": list(graph.frozen),
        "macs_convention": MACS_NOTE,
        "layers": [
            {"name": r.name, "op": r.op, "kernel": r.kernel or None, "input_shapes": [list(s) for s in r.inputs],
             "shape": list(r.shape), "params": r.params, "params_percent": _percent(r.params, total),
             "trainable_params": r.trainable, "macs": r.macs, "activations": r.activations}
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


def _inputs(shapes: list[tuple[int, ...]]) -> str:
    if not shapes:
        return ""
    return fmt_shape(shapes[0]) + (f" +{len(shapes) - 1}" if len(shapes) > 1 else "")


def _trainable(row: Row) -> str:
    if not row.params:
        return "-"
    return "yes" if row.trainable == row.params else "no" if not row.trainable else "partly"


def table(graph: Graph, depth: int = 0) -> str:
    """A plain ASCII table in the spirit of torchinfo's summary."""
    total = graph.total_params
    head = ["layer", "op", "kernel", "input shape", "output shape", "params", "% params", "MACs"]
    body = [[("  " * r.depth) + r.name, r.op, r.kernel, _inputs(r.inputs), fmt_shape(r.shape), f"{r.params:,}",
             f"{_percent(r.params, total):.2f}%" if r.params else "-", f"{r.macs:,}", _trainable(r)]
            for r in rows(graph, depth)]
    if graph.frozen:  # a spec with `freeze:` shows which rows train
        head.append("trainable")
    else:
        body = [row[:-1] for row in body]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < 5 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    rule = "-" * len(line(head))
    t = totals(graph)
    out = [f"{graph.name}: input {fmt_shape(graph.input_shape)}", rule, line(head), rule, *map(line, body), rule]
    for o in graph.outputs:
        suffix = " (train only)" if o.train_only else ""
        out.append(f"output '{o.name}': {fmt_shape(graph.shape_of(o.node))}{suffix}")
    out += [f"params: {t['params']:,} ({human(t['params'])}, {t['params_mib']:.2f} MiB in fp32)",
            f"trainable params: {t['trainable_params']:,}",
            f"non-trainable params: {t['non_trainable_params']:,}"
            + (f" (freeze: {', '.join(graph.frozen)})" if graph.frozen else ""),
            f"MACs:   {t['macs']:,} ({human(t['macs'])}) per sample",
            f"activations: {t['activations']:,} values per sample ({t['activations_mib']:.2f} MiB in fp32)",
            f"input: {numel(graph.input_shape):,} values per sample ({t['input_mib']:.2f} MiB in fp32)",
            f"note: {MACS_NOTE}", f"note: {KERNEL_NOTE}"]
    return "\n".join(out)
