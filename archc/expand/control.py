"""Loops (`for`/`in`/`do`, destructuring, `index`, named iterations) and conditions (`if`/`then`/`else`)."""

from __future__ import annotations

from .. import limits
from ..errors import error
from ..loader import PMap
from ..names import check_name
from .context import _IDENT, Ctx, Flow, shape_env


class Control:
    """Mixin of the Expander."""

    def loop(self, item: PMap, span, ctx: Ctx, flow: Flow) -> Flow:
        names = item["for"] if isinstance(item["for"], list) else [item["for"]]
        for var in names:
            if not isinstance(var, str) or not _IDENT.match(var):
                raise error(f"loop variable '{var}' is not a name", item.span_of("for"), ctx.path + ".for")
        env = {**ctx.env, **shape_env(flow.shape)}
        seq = self.value(item["in"], env, item.span_of("in"), ctx.path + ".in")
        if isinstance(seq, bool) or not isinstance(seq, (int, list)):
            raise error(f"a loop runs over a list or a count, found {seq!r}", item.span_of("in"), ctx.path + ".in")
        count = seq if isinstance(seq, int) else len(seq)
        if count < 0:
            raise error(f"a loop count cannot be negative, found {seq}", item.span_of("in"), ctx.path + ".in")
        if count > limits.MAX_LOOP_ITERATIONS:  # before range(): a count of 2**63 has no len()
            raise error(f"the loop runs {count} times, more than the limit {limits.MAX_LOOP_ITERATIONS}",
                        item.span_of("in"), ctx.path + ".in")
        seq = range(seq) if isinstance(seq, int) else seq
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
                check_name(local, item.span_of("name"), ctx.path + ".name")
                flow = self.dense_step(ctx, flow, self.group(local, item["do"], item.span_of("do"), inner, flow), span)
            else:
                flow = self.body(item["do"], item.span_of("do"), inner, flow)
        return flow

    def condition(self, item: PMap, span, ctx: Ctx, flow: Flow) -> Flow:
        env = {**ctx.env, **shape_env(flow.shape)}
        taken = "then" if self.value(item["if"], env, item.span_of("if"), ctx.path + ".if") else "else"
        if item.get(taken) is None:
            return flow
        return self.body(item[taken], item.span_of(taken), ctx.at(f".{taken}"), flow)
