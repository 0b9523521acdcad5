"""`archc diff`: two architectures compared layer by layer, aligned by module path.

A layer is matched by its module path (functional layers such as merges by their IR id). For each
path the diff says whether it was added, removed, changed (op, attributes or parameter count) or
only reshaped (the same layer seeing another input size: output shape and MACs differ). It also
answers the fine-tuning question: which of A's state_dict entries B loads as they are, which keys
B lacks or adds, and which shapes differ (from both models built on the meta device).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Graph, Node
from .ops import fmt_shape


@dataclass
class LayerChange:
    """One path whose layer differs: `fields` maps a field name to (A's value, B's value)."""

    path: str
    kind: str  # "added", "removed", "changed" or "reshaped"
    a: Node | None
    b: Node | None
    fields: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "op": (self.a or self.b).op,
                "fields": {k: {"a": _plain(v[0]), "b": _plain(v[1])} for k, v in self.fields.items()}}


@dataclass
class StateDiff:
    """State_dict compatibility of A's weights with B: what loads as it is, and what does not."""

    loadable: list[str]
    missing: list[str]  # B needs these, A lacks them
    unexpected: list[str]  # A has these, B does not
    mismatched: list[tuple[str, tuple, tuple]]  # key, A's shape, B's shape

    @property
    def loads_strictly(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def to_json(self) -> dict:
        return {"loadable": self.loadable, "missing": self.missing, "unexpected": self.unexpected,
                "mismatched": [{"key": k, "a": list(a), "b": list(b)} for k, a, b in self.mismatched]}


@dataclass
class Diff:
    a: Graph
    b: Graph
    layers: list[LayerChange]
    state: StateDiff | None = None

    @property
    def equal(self) -> bool:
        return not self.layers and self.a.input_shape == self.b.input_shape and \
            [o.name for o in self.a.outputs] == [o.name for o in self.b.outputs]

    def totals(self) -> dict:
        return {key: {"a": getattr(self.a, f"total_{key}"), "b": getattr(self.b, f"total_{key}"),
                      "delta": getattr(self.b, f"total_{key}") - getattr(self.a, f"total_{key}")}
                for key in ("params", "macs")}

    def to_json(self) -> dict:
        return {"equal": self.equal, "a": self.a.name, "b": self.b.name,
                "input": {"a": list(self.a.input_shape), "b": list(self.b.input_shape)},
                "totals": self.totals(), "layers": [c.to_json() for c in self.layers],
                "state_dict": self.state.to_json() if self.state else None}


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _key(node: Node) -> str:
    return node.module if node.module is not None else node.id


def compare(a: Graph, b: Graph) -> list[LayerChange]:
    """The layers that differ between two graphs, in A's order, then B's additions in B's order."""
    b_nodes = {_key(n): n for n in b.nodes}
    a_keys = {_key(n) for n in a.nodes}
    changes = []
    for node in a.nodes:
        other = b_nodes.get(_key(node))
        if other is None:
            changes.append(LayerChange(_key(node), "removed", node, None))
            continue
        change = _layer_change(node, other)
        if change is not None:
            changes.append(change)
    changes.extend(LayerChange(_key(n), "added", None, n) for n in b.nodes if _key(n) not in a_keys)
    return changes


def _layer_change(a: Node, b: Node) -> LayerChange | None:
    fields = {}
    if a.op != b.op:
        fields["op"] = (a.op, b.op)
    else:
        for key in sorted(set(a.attrs) | set(b.attrs)):
            if a.attrs.get(key) != b.attrs.get(key):
                fields[key] = (a.attrs.get(key), b.attrs.get(key))
    structural = bool(fields) or a.params != b.params
    for name, x, y in (("params", a.params, b.params), ("shape", a.shape, b.shape), ("macs", a.macs, b.macs)):
        if x != y:
            fields[name] = (x, y)
    if not fields:
        return None
    return LayerChange(_key(a), "changed" if structural else "reshaped", a, b, fields)


def state_diff(a: Graph, b: Graph) -> StateDiff:
    """Which of A's state_dict entries B loads as they are (both built on the meta device; imports torch)."""
    from .emit.build import build_from_graph

    def shapes(graph):
        model = build_from_graph(graph, {}, device="meta")
        return {k: tuple(v.shape) for k, v in model.state_dict().items()}

    sa, sb = shapes(a), shapes(b)
    return StateDiff(
        loadable=[k for k in sa if k in sb and sa[k] == sb[k]],
        missing=[k for k in sb if k not in sa],
        unexpected=[k for k in sa if k not in sb],
        mismatched=[(k, sa[k], sb[k]) for k in sa if k in sb and sa[k] != sb[k]],
    )


def diff(a: Graph, b: Graph, state: bool = True) -> Diff:
    """Compare two analysed specs (`state`: also their state_dicts, which needs torch)."""
    return Diff(a, b, compare(a, b), state_diff(a, b) if state else None)


def describe(name: str, value) -> str:
    """A field value as the table shows it (`name`: the field, so shapes read as shapes)."""
    if value is None:
        return "-"
    if name == "shape":
        return fmt_shape(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
