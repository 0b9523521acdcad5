"""Item parts every construct shares: names, `from` references, expressions, `let:` bindings."""

from __future__ import annotations

from .. import limits
from ..errors import SpecError, did_you_mean, error
from ..expr import ExprError, evaluate, render_template
from ..loader import PList, PMap
from ..names import check_name
from .context import _IDENT, Ctx, Flow


def expr_error(exc: ExprError, span, where: str) -> SpecError:
    """The located error of a failed expression; a spent work budget stops the expansion."""
    found = error(exc.message, span, where, exc.hint)
    return limits.LimitExceeded(found.diagnostics) if exc.fatal else found


class Values:
    """Mixin of the Expander."""

    def reserved(self, args: PMap, ctx: Ctx, flow: Flow, forced_name: str | None):
        """Resolve `name`, `from` and `side`: the item's name, its input flows, and whether it branches off."""
        name = forced_name
        if "name" in args:
            raw = args["name"]
            if not isinstance(raw, str):
                raw = str(raw)
            rendered = self.template(raw, ctx.env, args.span_of("name"), ctx.path + ".name")
            check_name(rendered, args.span_of("name"), ctx.path + ".name")
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
            raise expr_error(exc, span, where) from None

    def value(self, raw, env: dict, span, where: str, literals: tuple = ()):
        """A YAML value with expressions evaluated: strings are expressions unless listed in `literals`."""
        if isinstance(raw, str):
            if raw in literals:
                return raw
            try:
                return evaluate(raw, env)
            except ExprError as exc:
                raise expr_error(exc, span, where) from None
        if isinstance(raw, list):
            spans = raw.span_of if isinstance(raw, PList) else (lambda i: span)
            return [self.value(v, env, spans(i), f"{where}[{i}]", literals) for i, v in enumerate(raw)]
        return raw

    def bindings(self, let, env: dict, where: str) -> dict:
        """`env` with the `let:` names added in order, each evaluated once and seeing those before it."""
        if not let:
            return env
        env = dict(env)
        for key, raw in let.items():
            span = let.span_of(key, key_only=True)
            if not isinstance(key, str) or not _IDENT.match(key):
                raise error(f"'{key}' in let is not a name", span, where, "names are letters, digits and '_'")
            if key in env:
                raise error(f"let '{key}' hides a name already defined here", span, f"{where}.{key}",
                            "give the binding another name")
            env[key] = self.value(raw, env, let.span_of(key), f"{where}.{key}")
        return env

    def register(self, ctx: Ctx, name: str | None, flow: Flow) -> None:
        if name is not None:
            ctx.refs.maps[0][name] = flow

    def poisoned(self, ctx: Ctx, name: str | None, flow: Flow) -> Flow:
        """An item whose input is already wrong: its name stays defined, so no follow-on 'undefined' errors."""
        out = Flow(flow.node, None)
        self.register(ctx, name, out)
        return out
