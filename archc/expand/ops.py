"""Op items: attributes checked against the op's declaration, then its shape rule (built-in or plugin)."""

from __future__ import annotations

from .. import limits
from ..errors import SpecError, did_you_mean, error
from ..ir import INPUT, Node
from ..loader import PMap
from ..ops import REGISTRY, AttrError, ShapeError, coerce, fmt_shape, numel
from .context import RESERVED, Ctx, Flow, shape_env


class Ops:
    """Mixin of the Expander."""

    def op(self, head: str, args: PMap, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        functional = REGISTRY[head].functional
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        shapes = [f.shape for f in inputs]
        env = {**ctx.env, **shape_env(shapes[0])} if args else ctx.env  # only attribute values read it
        if None in shapes:
            self.attrs_without_shape(head, args, env, span, ctx)
            return self.poisoned(ctx, name, flow)
        attrs = self.attrs(head, args, env, span, ctx)
        if len(inputs) != 1:
            raise error(f"{head} takes one input, 'from' gives {len(inputs)}", args.span_of("from"), ctx.path)
        if functional:  # an expression in forward: no module, and no number slot when unnamed
            node_id = ctx.scope.join(ctx.scope.claim(name, span, ctx.path)) if name else ctx.scope.functional_id(head)
            out = self.add_node(head, attrs, inputs, node_id, None, span, ctx)
        else:
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
            if key not in opdef.attrs and key not in RESERVED and not opdef.merge:  # a merge's other keys: branches
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
        except Exception as exc:
            if not opdef.plugin:
                raise
            raise error(f"plugin bug: the shape rule of op '{head}' from {opdef.plugin} raised "
                        f"{type(exc).__name__}: {exc}", span, ctx.path,
                        "fix the plugin's infer (it should raise ShapeError for inputs it refuses); "
                        "archc --debug shows the traceback") from exc
        if len(self.nodes) >= limits.MAX_LAYERS:
            raise limits.LimitExceeded(error(f"the spec expands to more than {limits.MAX_LAYERS:,} layers", span,
                                             ctx.path, "check loop counts").diagnostics)
        if numel(inferred.shape) > limits.MAX_SAMPLE_ELEMENTS:
            raise too_large(f"{head} '{node_id}' makes", inferred.shape, span, ctx.path)
        self.nodes.append(Node(node_id, head, attrs, [f.node for f in inputs], inferred.shape, inferred.params,
                               inferred.macs, module, ctx.scopes, span, ctx.path))
        return Flow(node_id, inferred.shape)

    def describe_input(self, node_id: str) -> str:
        if node_id == INPUT:
            return "the input"
        node = next(n for n in reversed(self.nodes) if n.id == node_id)
        return f"'{node_id}' ({node.op})"

    def functional(self, head: str, inputs: list[Flow], span, ctx: Ctx, name: str | None,
                   attrs: dict | None = None) -> Flow:
        """A merge node (`attrs`: its attributes; default: the op's defaults)."""
        if any(f.shape is None for f in inputs):
            return Flow(inputs[0].node, None)
        node_id = ctx.scope.functional_id(name or head)
        if attrs is None:
            attrs = {key: attr.normal_default for key, attr in REGISTRY[head].attrs.items()}
        return self.add_node(head, attrs, inputs, node_id, None, span, ctx)


def too_large(what: str, shape, span, path: str) -> SpecError:
    """A value too large for any machine (and, far enough out, for torch's int64 sizes)."""
    return error(f"{what} {numel(shape):,} elements per sample, {fmt_shape(shape)}: more than "
                 f"{limits.MAX_SAMPLE_ELEMENTS:,} (2^48, 1 PiB in float32), which no machine holds", span, path,
                 "check the input size and the sizes that grow it")
