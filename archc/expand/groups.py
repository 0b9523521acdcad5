"""Groups (module levels), dense groups, and merges of branches (concat, add, ...)."""

from __future__ import annotations

from ..errors import error
from ..ir import Scope
from ..loader import PMap
from ..ops import REGISTRY
from .context import RESERVED, Ctx, Flow, ScopeState, shape_env


class Groups:
    """Mixin of the Expander."""

    def group(self, name: str | None, items, span, ctx: Ctx, flow: Flow, *, dense: bool = False,
              kind: str = "group", title: str | None = None, env: dict | None = None,
              args: dict | None = None) -> Flow:
        """A level of the module tree holding `items`; it vanishes if it expands to nothing."""
        local = ctx.scope.claim(name, span, ctx.path)
        path = ctx.scope.join(local)
        inner = ctx.enter(span, scope=ScopeState(path), scopes=ctx.scopes + (path,), dense=dense,
                          refs=ctx.refs.new_child({"input": flow}), env=ctx.env if env is None else env)
        before = len(self.nodes)
        out = self.body(items, span, inner, flow)
        if len(self.nodes) > before:
            self.scopes[path] = Scope(path, kind, title or local, span, out.node, args)
        self.register(ctx, name, out)
        return out

    def group_item(self, head: str, args, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        if isinstance(args, list):
            args = PMap({"layers": args}, span=span)
            args.value_spans["layers"] = span
        # the schema guarantees `layers` and no other keys than the reserved ones
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        out = self.group(name, args["layers"], args.span_of("layers"), ctx.at(f".{head}.layers"), inputs[0],
                         dense=head == "dense", kind=head)
        return flow if side else out

    def merge(self, head: str, args: PMap, span, ctx: Ctx, flow: Flow, forced_name: str | None) -> Flow:
        name, inputs, side = self.reserved(args, ctx, flow, forced_name)
        attrs = self.merge_attrs(head, args, span, ctx, flow)
        branches = [k for k in args if k not in RESERVED and k not in REGISTRY[head].attrs]
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
        out = self.functional(head, inputs, span, ctx, name, attrs)
        self.register(ctx, name, out)
        return flow if side else out

    def merge_attrs(self, head: str, args: PMap, span, ctx: Ctx, flow: Flow) -> dict:
        """A merge's attributes (`concat: {dim: -1, ...}`): its keys that are not branches, with the `in_*`
        names of the merge's input."""
        if not REGISTRY[head].attrs:
            return {}
        env = {**ctx.env, **shape_env(flow.shape)}
        if flow.shape is None:
            self.attrs_without_shape(head, args, env, span, ctx)
            return {}
        return self.attrs(head, args, env, span, ctx)
