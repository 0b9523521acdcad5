"""Expansion and shape inference in one pass: a checked spec becomes the IR.

A block sees its input's inferred shape (`in_channels`, ...), loops are
unrolled, conditions decided, names rendered, and every op's shape rule runs
as soon as its input is known. Independent errors are collected; an item
whose input is already wrong is only checked for what does not need a shape.
"""

from __future__ import annotations

import re
from collections import ChainMap
from typing import NamedTuple
from dataclasses import dataclass

from . import limits
from .errors import Collector, Span, SpecError, did_you_mean, error
from .expr import ExprError, evaluate, render_template
from .ir import INPUT, Graph, Node, Output, Scope
from .loader import PList, PMap
from .ops import MERGES, REGISTRY, REQUIRED, AttrError, Shape, ShapeError, coerce, fmt_shape
from .params import ParamType, check_value, parse_param

RESERVED = ("name", "from", "side")
GROUPS = ("group", "dense")
CONTROL = ("for", "if")
LOOP_KEYS = ("for", "in", "do", "index", "name")
IF_KEYS = ("if", "then", "else")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Flow:
    """A value flowing through the network: the node producing it and its shape (None once poisoned)."""

    node: str
    shape: Shape | None


class ScopeState:
    """Names used in one level of the module tree; unnamed items are numbered like nn.Sequential."""

    def __init__(self, path: str):
        self.path = path
        self.names: set[str] = set()
        self.counter = 0

    def join(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def claim(self, name: str | None, span: Span | None, where: str) -> str:
        if name is None:
            while str(self.counter) in self.names:
                self.counter += 1
            name = str(self.counter)
        self.counter += 1
        if name in self.names:
            raise error(f"the name '{name}' is used twice in '{self.path or 'the top level'}'", span, where,
                        "give one of them another name")
        if not _IDENT.match(name) and not name.isdigit():
            raise error(f"'{name}' is not a valid layer name", span, where,
                        "names are letters, digits and '_', starting with a letter or '_'")
        self.names.add(name)
        return name

    def functional_id(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return self.join(name)


class Ctx(NamedTuple):  # a NamedTuple: `_replace` is several times cheaper than dataclasses.replace
    scope: ScopeState
    scopes: tuple[str, ...]
    env: dict
    refs: ChainMap
    path: str
    blocks: tuple[str, ...] = ()
    depth: int = 0
    dense: bool = False

    def at(self, suffix: str) -> "Ctx":
        return self._replace(path=self.path + suffix)

    def enter(self, span: Span | None, **changes) -> "Ctx":
        ctx = self._replace(depth=self.depth + 1, **changes)
        if ctx.depth > limits.MAX_NESTING:
            raise limits.LimitExceeded(error(f"the spec nests deeper than {limits.MAX_NESTING} levels", span,
                                             self.path, "blocks, groups and loops nest too deeply").diagnostics)
        return ctx


def shape_env(shape: Shape | None) -> dict:
    """Names that describe an item's input: in_channels, in_height, in_width, in_shape."""
    if shape is None:
        return {}
    env = {"in_shape": list(shape), "in_channels": shape[0], "in_features": shape[0]}
    if len(shape) == 3:
        env["in_height"], env["in_width"] = shape[1], shape[2]
    return env


def single_item(item, span) -> PList:
    """A one-item list of layers, positioned at the item."""
    items = PList([item], span=span)
    items.item_spans = [span]
    return items


class Expander:
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

    # -- entry point --------------------------------------------------------------------------

    def run(self, input_shape: Shape) -> Graph:
        root = ScopeState("")
        start = Flow(INPUT, input_shape)
        ctx = Ctx(root, (), dict(self.params), ChainMap({"input": start}), "layers")
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

    # -- sequences and items ------------------------------------------------------------------

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
        if head in MERGES:
            return self.merge(head, args, span, ctx, flow, forced_name)
        if head in REGISTRY:
            return self.op(head, args, span, ctx, flow, forced_name)
        if head in self.blocks:
            return self.block(head, args, span, ctx, flow, forced_name)
        known = [*REGISTRY, *self.blocks, *GROUPS, *CONTROL]
        raise error(f"unknown op or block '{head}'", span, ctx.path,
                    did_you_mean(head, known) or "ops: " + ", ".join(sorted(REGISTRY)))

    # -- common item parts --------------------------------------------------------------------

    def reserved(self, args: PMap, ctx: Ctx, flow: Flow, forced_name: str | None):
        """Resolve `name`, `from` and `side`: the item's name, its input flows, and whether it branches off."""
        name = forced_name
        if "name" in args:
            raw = args["name"]
            if not isinstance(raw, str):
                raw = str(raw)
            rendered = self.template(raw, ctx.env, args.span_of("name"), ctx.path + ".name")
            if forced_name is not None and rendered != forced_name:
                raise error(f"the layer is named '{forced_name}' by its key and '{rendered}' by 'name'",
                            args.span_of("name"), ctx.path, "drop the 'name' attribute")
            name = rendered
        inputs = [flow]
        if "from" in args:
            raw = args["from"]
            refs = raw if isinstance(raw, list) else [raw]
            if not refs:
                raise error("'from' is empty", args.span_of("from"), ctx.path + ".from",
                            "name the input: from: layer, or from: [a, b] for a merge")
            spans = [raw.span_of(i) if isinstance(raw, PList) else args.span_of("from") for i in range(len(refs))]
            inputs = [self.ref(r, ctx, s, ctx.path + ".from") for r, s in zip(refs, spans)]
        side = bool(args.get("side", False))
        return name, inputs, side

    def ref(self, name, ctx: Ctx, span, where: str) -> Flow:
        if not isinstance(name, str) or name not in ctx.refs:
            raise error(f"undefined reference '{name}'", span, where,
                        did_you_mean(str(name), list(ctx.refs)) or
                        "'from' names an earlier layer in this or an enclosing level, or 'input'")
        return ctx.refs[name]

    def template(self, raw: str, env: dict, span, where: str) -> str:
        try:
            return render_template(raw, env)
        except ExprError as exc:
            raise error(exc.message, span, where, exc.hint) from None

    def value(self, raw, env: dict, span, where: str, literals: tuple = ()):
        """A YAML value with expressions evaluated: strings are expressions unless listed in `literals`."""
        if isinstance(raw, str):
            if raw in literals:
                return raw
            try:
                return evaluate(raw, env)
            except ExprError as exc:
                raise error(exc.message, span, where, exc.hint) from None
        if isinstance(raw, list):
            spans = raw.span_of if isinstance(raw, PList) else (lambda i: span)
            return [self.value(v, env, spans(i), f"{where}[{i}]", literals) for i, v in enumerate(raw)]
        return raw

    def register(self, ctx: Ctx, name: str | None, flow: Flow) -> None:
        if name is not None:
            ctx.refs.maps[0][name] = flow

    def poisoned(self, ctx: Ctx, name: str | None, flow: Flow) -> Flow:
        """An item whose input is already wrong: its name stays defined, so no follow-on 'undefined' errors."""
        out = Flow(flow.node, None)
        self.register(ctx, name, out)
        return out

    # -- ops ----------------------------------------------------------------------------------

    def op(self, head: str, args: PMap, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        opdef = REGISTRY[head]
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        shapes = [f.shape for f in inputs]
        env = {**ctx.env, **shape_env(shapes[0])} if args else ctx.env  # only attribute values read it
        if None in shapes:
            self.attrs_without_shape(head, args, env, span, ctx)
            return self.poisoned(ctx, name, flow)
        attrs = self.attrs(head, args, env, span, ctx)
        if len(inputs) != 1:
            raise error(f"{head} takes one input, 'from' gives {len(inputs)}", args.span_of("from"), ctx.path)
        module = ctx.scope.join(ctx.scope.claim(name, span, ctx.path))
        out = self.add_node(head, attrs, inputs, module, module, span, ctx)
        self.register(ctx, name, out)
        return flow if side else out

    def attrs_without_shape(self, head: str, args: PMap, env: dict, span, ctx: Ctx) -> None:
        """Check an item whose input is already wrong, except for what needs the input's shape."""
        try:
            self.attrs(head, args, env, span, ctx)
        except SpecError as exc:
            if not any("'in_" in d.message for d in exc.diagnostics):
                raise

    def attrs(self, head: str, args: PMap, env: dict, span, ctx: Ctx) -> dict:
        opdef = REGISTRY[head]
        for key in args:
            if key not in opdef.attrs and key not in RESERVED:
                raise error(f"unknown attribute '{key}' for {head}", args.span_of(key, key_only=True),
                            f"{ctx.path}.{head}",
                            did_you_mean(key, [*opdef.attrs, *RESERVED]) or
                            f"{head} takes: " + (", ".join(opdef.attrs) or "no attributes"))
        attrs = {}
        for key, attr in opdef.attrs.items():
            if key not in args:
                if attr.required:
                    raise error(f"{head} needs the attribute '{key}' ({attr.doc})", span, ctx.path,
                                f"add {key}: ... to the {head}")
                attrs[key] = attr.normal_default
                continue
            where = f"{ctx.path}.{head}.{key}"
            literals = attr.choices if attr.kind == "choice" else ("same", "valid") if attr.kind == "padding" else ()
            value = self.value(args[key], env, args.span_of(key), where, literals)
            try:
                attrs[key] = coerce(attr.kind, value, attr.choices)
            except AttrError as exc:
                raise error(f"{head} attribute '{key}': {exc.message}", args.span_of(key), where, exc.hint) from None
        return attrs

    def add_node(self, head, attrs, inputs: list[Flow], node_id, module, span, ctx: Ctx) -> Flow:
        opdef = REGISTRY[head]
        try:
            inferred = opdef.infer(attrs, [f.shape for f in inputs])
        except ShapeError as exc:
            message = exc.message.removeprefix(f"{head} ")
            after = ", ".join(self.describe_input(f.node) for f in inputs)
            raise error(f"{head} '{node_id}' {message}, after {after}", span, ctx.path, exc.hint) from None
        if len(self.nodes) >= limits.MAX_LAYERS:
            raise limits.LimitExceeded(error(f"the spec expands to more than {limits.MAX_LAYERS:,} layers", span,
                                             ctx.path, "check loop counts").diagnostics)
        self.nodes.append(Node(node_id, head, attrs, [f.node for f in inputs], inferred.shape, inferred.params,
                               inferred.macs, module, ctx.scopes, span, ctx.path))
        return Flow(node_id, inferred.shape)

    def describe_input(self, node_id: str) -> str:
        if node_id == INPUT:
            return "the input"
        node = next(n for n in reversed(self.nodes) if n.id == node_id)
        return f"'{node_id}' ({node.op})"

    def functional(self, head: str, inputs: list[Flow], span, ctx: Ctx, name: str | None) -> Flow:
        if any(f.shape is None for f in inputs):
            return Flow(inputs[0].node, None)
        node_id = ctx.scope.functional_id(name or head)
        return self.add_node(head, {}, inputs, node_id, None, span, ctx)

    # -- structure: groups, merges, blocks, loops, conditions ---------------------------------

    def group(self, name: str | None, items, span, ctx: Ctx, flow: Flow, *, dense: bool = False,
              kind: str = "group", title: str | None = None, env: dict | None = None) -> Flow:
        """A level of the module tree holding `items`; it vanishes if it expands to nothing."""
        local = ctx.scope.claim(name, span, ctx.path)
        path = ctx.scope.join(local)
        inner = ctx.enter(span, scope=ScopeState(path), scopes=ctx.scopes + (path,), dense=dense,
                          refs=ctx.refs.new_child({"input": flow}), env=ctx.env if env is None else env)
        before = len(self.nodes)
        out = self.body(items, span, inner, flow)
        if len(self.nodes) > before:
            self.scopes[path] = Scope(path, kind, title or local, span, out.node)
        self.register(ctx, name, out)
        return out

    def group_item(self, head: str, args, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        if isinstance(args, list):
            args = PMap({"layers": args}, span=span)
            args.value_spans["layers"] = span
        unknown = [k for k in args if k not in ("layers", *RESERVED)]
        if unknown:
            raise error(f"unknown attribute '{unknown[0]}' for {head}", args.span_of(unknown[0], key_only=True),
                        ctx.path, f"{head} takes: layers, " + ", ".join(RESERVED))
        if "layers" not in args:
            raise error(f"{head} needs 'layers'", span, ctx.path, f"write {head}: {{name: ..., layers: [...]}}")
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        out = self.group(name, args["layers"], args.span_of("layers"), ctx.at(f".{head}.layers"), inputs[0],
                         dense=head == "dense", kind=head)
        return flow if side else out

    def merge(self, head: str, args: PMap, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        branches = [k for k in args if k not in RESERVED]
        if "from" in args and branches:
            raise error(f"{head} takes either branches or 'from', not both", args.span_of("from", key_only=True),
                        ctx.path)
        if branches:
            inputs = []
            for key in branches:
                branch_ctx = ctx.at(f".{head}.{key}")._replace(dense=False)  # a branch is not a dense step
                out = self.named(str(key), args[key], args.span_of(key), branch_ctx, flow)
                self.register(ctx, str(key), out)
                inputs.append(out)
        if len(inputs) < 2:
            raise error(f"{head} needs at least two branches (or two names in 'from')", span, ctx.path,
                        "a branch written as [] or null passes the input through")
        out = self.functional(head, inputs, span, ctx, name)
        self.register(ctx, name, out)
        return flow if side else out

    def block(self, head: str, args: PMap, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        if head in ctx.blocks:
            chain = " -> ".join([*ctx.blocks[ctx.blocks.index(head):], head])
            raise error(f"block '{head}' uses itself ({chain})", span, ctx.path,
                        "a block cannot contain itself; use a loop to repeat it")
        definition = self.blocks[head]
        params = self.params_of(head)
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        for key in args:
            if key not in params and key not in RESERVED:
                raise error(f"block '{head}' has no param '{key}'", args.span_of(key, key_only=True), ctx.path,
                            did_you_mean(key, params) or f"'{head}' takes: " + (", ".join(params) or "no params"))
        shape = inputs[0].shape
        env = {**ctx.env, **shape_env(shape)}
        values = {}
        for key, (ptype, default) in params.items():
            where = f"{ctx.path}.{head}.{key}"
            if key not in args:
                if default is REQUIRED:
                    raise error(f"block '{head}' needs the param '{key}' ({ptype})", span, ctx.path,
                                f"add {key}: ... to the {head}")
                values[key] = default
                continue
            literals = (args[key],) if ptype.literal_strings else ()
            value = self.value(args[key], env, args.span_of(key), where, literals)
            problem = check_value(ptype, value)
            if problem:
                raise error(f"block '{head}' param '{key}': {problem}", args.span_of(key), where)
            values[key] = value
        if shape is None:
            return self.poisoned(ctx, name, flow)
        layers = definition.get("layers")
        block_ctx = ctx._replace(blocks=ctx.blocks + (head,), path=f"{ctx.path} -> blocks.{head}.layers")
        out = self.group(name, layers, definition.span_of("layers"), block_ctx, inputs[0], kind="block",
                         title=head, env={**self.params, **values})
        self.register(ctx, name, out)
        return flow if side else out

    def params_of(self, head: str) -> dict:
        if head not in self.block_params:
            definition = self.blocks[head]
            declared = definition.get("params") or PMap()
            parsed = {}
            for key, raw in declared.items():
                try:
                    parsed[str(key)] = parse_param(raw)
                except ValueError as exc:
                    raise error(f"block '{head}' param '{key}': {exc}", declared.span_of(key),
                                f"blocks.{head}.params.{key}") from None
            self.block_params[head] = parsed
        return self.block_params[head]

    def loop(self, item: PMap, span, ctx: Ctx, flow: Flow) -> Flow:
        self.check_keys(item, LOOP_KEYS, ("for", "in", "do"), "for", ctx)
        names = item["for"] if isinstance(item["for"], list) else [item["for"]]
        for var in names:
            if not isinstance(var, str) or not _IDENT.match(var):
                raise error(f"loop variable '{var}' is not a name", item.span_of("for"), ctx.path + ".for")
        env = {**ctx.env, **shape_env(flow.shape)}
        seq = self.value(item["in"], env, item.span_of("in"), ctx.path + ".in")
        if isinstance(seq, int) and not isinstance(seq, bool):
            if seq < 0:
                raise error(f"a loop count cannot be negative, found {seq}", item.span_of("in"), ctx.path + ".in")
            seq = range(seq)
        if not isinstance(seq, (list, range)):
            raise error(f"a loop runs over a list or a count, found {seq!r}", item.span_of("in"), ctx.path + ".in")
        if len(seq) > limits.MAX_LOOP_ITERATIONS:
            raise error(f"the loop runs {len(seq)} times, more than the limit {limits.MAX_LOOP_ITERATIONS}",
                        item.span_of("in"), ctx.path + ".in")
        for k, element in enumerate(seq):
            bound = {item["index"]: k} if "index" in item else {}
            if isinstance(item["for"], list):
                if not isinstance(element, list) or len(element) != len(names):
                    raise error(f"cannot unpack {element!r} into [{', '.join(names)}]", item.span_of("in"),
                                ctx.path + ".in", f"each item of the list must have {len(names)} values")
                bound.update(zip(names, element))
            else:
                bound[names[0]] = element
            self.step(item.span_of("in"), ctx)
            inner = ctx.enter(span, env={**ctx.env, **bound}).at(f".do(iteration {k})")
            if "name" in item:
                local = self.template(str(item["name"]), inner.env, item.span_of("name"), ctx.path + ".name")
                flow = self.dense_step(ctx, flow, self.group(local, item["do"], item.span_of("do"), inner, flow), span)
            else:
                flow = self.body(item["do"], item.span_of("do"), inner, flow)
        return flow

    def condition(self, item: PMap, span, ctx: Ctx, flow: Flow) -> Flow:
        self.check_keys(item, IF_KEYS, ("if",), "if", ctx)
        env = {**ctx.env, **shape_env(flow.shape)}
        taken = "then" if self.value(item["if"], env, item.span_of("if"), ctx.path + ".if") else "else"
        if item.get(taken) is None:
            return flow
        return self.body(item[taken], item.span_of(taken), ctx.at(f".{taken}"), flow)

    def check_keys(self, item: PMap, allowed, required, what: str, ctx: Ctx) -> None:
        for key in item:
            if key not in allowed:
                raise error(f"unknown key '{key}' in '{what}'", item.span_of(key, key_only=True), ctx.path,
                            did_you_mean(key, allowed) or f"'{what}' takes: " + ", ".join(allowed))
        for key in required:
            if key not in item:
                raise error(f"'{what}' needs '{key}'", item.span, ctx.path, f"'{what}' takes: " + ", ".join(allowed))


def expand(doc: PMap, params: dict, input_shape: Shape, file: str | None = None,
           max_params: int = limits.MAX_PARAMS) -> Graph:
    """Expand a schema-checked spec into the IR, inferring every shape."""
    return Expander(doc, params, file, max_params).run(input_shape)


__all__ = ["expand", "Flow", "fmt_shape"]
