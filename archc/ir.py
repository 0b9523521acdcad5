"""The IR: a DAG of resolved layers with shapes, parameter counts and MACs.

Every emitter (torch, Python source, Graphviz, reports) reads only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Span
from .ops import REGISTRY, Op, Shape

INPUT = "input"


@dataclass
class Node:
    """One layer. `module` is its dotted name in the nn.Module (None for functional merges)."""

    id: str
    op: str
    attrs: dict
    inputs: list[str]
    shape: Shape
    params: int
    macs: int
    module: str | None
    scopes: tuple[str, ...]
    span: Span | None
    path: str
    init: dict = field(default_factory=dict)  # tensor -> (scheme, args): the `init:` rules that apply

    @property
    def spec(self) -> Op:
        return REGISTRY[self.op]

    @property
    def label(self) -> str:
        return self.spec.describe(self.attrs)


@dataclass
class Scope:
    """A group, block instance, dense block or branch: a level of the module tree."""

    path: str
    kind: str
    title: str
    span: Span | None
    output: str | None = None  # id of the node whose value leaves the scope
    args: dict | None = None  # a block instance's resolved params (kind 'block'), for emitters naming them


@dataclass
class Output:
    node: str
    name: str
    train_only: bool = False


@dataclass
class Graph:
    name: str
    input_shape: Shape
    nodes: list[Node]
    outputs: list[Output]
    scopes: dict[str, Scope]
    params: dict
    file: str | None = None
    init: dict = field(default_factory=dict)  # the spec's `init:` section as written (key -> rule)
    init_resolved: bool = False  # whether the nodes' `init` rules are set (archc.init.resolve)
    frozen: tuple[str, ...] = ()  # `freeze:` module path prefixes (archc.freeze)
    by_id: dict[str, Node] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {n.id: n for n in self.nodes}

    def shape_of(self, node_id: str) -> Shape:
        return self.input_shape if node_id == INPUT else self.by_id[node_id].shape

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def total_macs(self) -> int:
        return sum(n.macs for n in self.nodes)
