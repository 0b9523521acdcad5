"""Expansion and shape inference in one pass: a checked spec becomes the IR.

A block sees its input's inferred shape (`in_channels`, ...), loops are
unrolled, conditions decided, names rendered, and every op's shape rule runs
as soon as its input is known. Independent errors are collected; an item
whose input is already wrong is only checked for what does not need a shape.
Each construct has its own module: ops, groups and merges, blocks, control
(loops and conditions), values (names, references, expressions).
"""

from __future__ import annotations

from collections import ChainMap

from .. import limits
from ..errors import Collector, SpecError, did_you_mean, error
from ..expr import work_budget
from ..ir import INPUT, Graph, Node, Output, Scope
from ..loader import PMap
from ..ops import REGISTRY, Shape, numel
from ..params import ParamType
from .blocks import Blocks, blocks_named_like_ops
from .context import CONTROL, GROUPS, Ctx, Flow, ScopeState, shape_env, single_item
from .control import Control
from .groups import Groups
from .ops import Ops, too_large
from .values import Values


class Expander(Values, Ops, Groups, Blocks, Control):
    """Walks a spec's layers, dispatching each item to its construct."""

    def __init__(self, doc: PMap, params: dict, file: str | None, max_params: int):
        self.doc = doc
        self.file = file
        self.params = params
        self.max_params = max_params
        self.blocks: PMap = doc.get("blocks") or PMap()
        self.block_params: dict[str, dict[str, tuple[ParamType, object]]] = {}
        self.nodes: list[Node] = []
        self.scopes: dict[str, Scope] = {}
        self.errors = Collector()
        self.steps = 0

    def run(self, input_shape: Shape) -> Graph:
        for problem in blocks_named_like_ops(self.blocks):
            self.errors.add(problem)
        if numel(input_shape) > limits.MAX_SAMPLE_ELEMENTS:
            given = "the input" if tuple(self.doc.get("input") or ()) == tuple(input_shape) else "the input (--input)"
            raise too_large(f"{given} has", input_shape, self.doc.span_of("input"), "input")
        root = ScopeState("")
        start = Flow(INPUT, input_shape)
        with work_budget(limits.MAX_EXPR_WORK):  # all expressions of the spec together
            env = self.bindings(self.doc.get("let"), {**self.params, **shape_env(input_shape)}, "let")
            ctx = Ctx(root, (), env, ChainMap({"input": start}), "layers")
            try:
                flow = self.body(self.doc["layers"], self.doc.span_of("layers"), ctx, start)
            except limits.LimitExceeded as exc:
                self.errors.add(exc)
                self.errors.raise_if_any()
        outputs = self.outputs(ctx, flow)
        self.errors.raise_if_any()
        graph = Graph(str(self.doc.get("name", "model")), input_shape, self.nodes, outputs, self.scopes,
                      dict(self.params), self.file)
        if graph.total_params > self.max_params:
            raise error(f"the model has {graph.total_params:,} parameters, more than the limit {self.max_params:,}",
                        self.doc.span_of("layers", key_only=True), "layers",
                        "raise the limit with --max-params (or max_params=) if this size is intended")
        return graph

    def outputs(self, ctx: Ctx, flow: Flow) -> list[Output]:
        spec = self.doc.get("outputs")
        if spec is None:
            return [Output(flow.node, "output")]
        result = []
        for i, entry in enumerate(spec):
            span = spec.span_of(i)
            where = f"outputs[{i}]"
            ref, train_only, cond = (entry, False, True) if isinstance(entry, str) else (
                entry.get("from"), entry.get("train_only", False), entry.get("if", True))
            try:
                if not self.value(cond, ctx.env, span, where):
                    continue
                target = self.ref(ref, ctx, span, where)
                result.append(Output(target.node, ref, bool(train_only)))
            except SpecError as exc:
                self.errors.add(exc)
        return result

    def body(self, value, span, ctx: Ctx, flow: Flow) -> Flow:
        """A list of items, or a mapping of named entries (each a layer or a group)."""
        if isinstance(value, PMap):
            for key, entry in value.items():
                flow = self.named(str(key), entry, value.span_of(key), ctx.at(f".{key}"), flow)
            return flow
        if not isinstance(value, list):
            raise error("expected a list of layers", span, ctx.path)
        for i, item in enumerate(value):
            flow = self.item(item, value.span_of(i), ctx.at(f"[{i}]"), flow)
        return flow

    def named(self, key: str, value, span, ctx: Ctx, flow: Flow) -> Flow:
        """An entry named by a mapping key: a layer named `key`, or a group named `key`.

        Keys starting with '_' add no module level; null or [] passes the input through.
        """
        if value is None or (isinstance(value, list) and not value):
            return flow
        if key.startswith("_"):
            return self.body(value if isinstance(value, list) else single_item(value, span), span, ctx, flow)
        if isinstance(value, list) or (isinstance(value, PMap) and any(k in value for k in CONTROL)):
            items = value if isinstance(value, list) else single_item(value, span)
            return self.dense_step(ctx, flow, self.group(key, items, span, ctx, flow), span)
        return self.item(value, span, ctx, flow, forced_name=key)

    def dense_step(self, ctx: Ctx, flow: Flow, out: Flow, span) -> Flow:
        """In a dense group every step's output is concatenated to its input (DenseNet)."""
        return self.functional("concat", [flow, out], span, ctx, "cat") if ctx.dense else out

    def step(self, span, ctx: Ctx) -> None:
        """Count one unit of expansion work; a spec that needs too many is refused."""
        self.steps += 1
        if self.steps > limits.MAX_EXPANSION_STEPS:
            raise limits.LimitExceeded(error(
                f"the spec takes more than {limits.MAX_EXPANSION_STEPS:,} expansion steps (items and loop iterations)",
                span, ctx.path, "check loop counts and nested loops").diagnostics)

    def item(self, item, span, ctx: Ctx, flow: Flow, forced_name: str | None = None) -> Flow:
        self.step(span, ctx)
        try:
            head, args = self.split(item, span, ctx)
            if head == "for":
                return self.loop(item, span, ctx, flow)
            if head == "if":
                return self.condition(item, span, ctx, flow)
            return self.dense_step(ctx, flow, self.leaf(head, args, span, ctx, flow, forced_name), span)
        except limits.LimitExceeded:
            raise
        except SpecError as exc:
            self.errors.add(exc)
            return Flow(flow.node, None)

    def split(self, item, span, ctx: Ctx):
        if isinstance(item, str):
            if item in ("for", "if"):  # a bare '- for' or '- if'
                raise error(f"'{item}' needs its keys: " + ("for, in, do" if item == "for" else "if, then"), span,
                            ctx.path, "write it as a mapping, e.g. '- for: i' with 'in:' and 'do:' below it"
                            if item == "for" else "write it as a mapping, e.g. '- if: stride > 1' with 'then:'")
            return item, PMap(span=span)
        if isinstance(item, PMap) and "for" in item:
            return "for", item
        if isinstance(item, PMap) and "if" in item:
            return "if", item
        if isinstance(item, PMap) and len(item) == 1:
            head, args = next(iter(item.items()))
            if args is None:
                args = PMap(span=span)
            if not isinstance(args, (PMap, list)) or (isinstance(args, list) and head not in GROUPS):
                raise error(f"the attributes of '{head}' must be a mapping, found {type(args).__name__}",
                            item.span_of(head), ctx.path, f"write it as '{head}: {{...}}'")
            return str(head), args
        found = ", ".join(map(str, item)) if isinstance(item, PMap) else type(item).__name__
        raise error(f"a layer is one op or block written as 'op: {{attributes}}'; found {found}", span, ctx.path,
                    "put each layer in its own list item ('- ')")

    def leaf(self, head: str, args, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        if head in GROUPS:
            return self.group_item(head, args, span, ctx, flow, forced_name)
        if head in REGISTRY:
            if REGISTRY[head].merge:
                return self.merge(head, args, span, ctx, flow, forced_name)
            return self.op(head, args, span, ctx, flow, forced_name)
        if head in self.blocks:
            return self.block(head, args, span, ctx, flow, forced_name)
        known = [*REGISTRY, *self.blocks, *GROUPS, *CONTROL]
        raise error(f"unknown op or block '{head}'", span, ctx.path,
                    did_you_mean(head, known) or "ops: " + ", ".join(sorted(REGISTRY)))


def expand(doc: PMap, params: dict, input_shape: Shape, file: str | None = None,
           max_params: int = limits.MAX_PARAMS) -> Graph:
    """Expand a schema-checked spec into the IR, inferring every shape."""
    return Expander(doc, params, file, max_params).run(input_shape)


__all__ = ["expand", "Flow", "fmt_shape"]
