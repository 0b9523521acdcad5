"""Block calls: typed arguments, the block's own input names and `let:`, then its layers as a level."""

from __future__ import annotations

from ..errors import SpecError, did_you_mean, error
from ..loader import PMap
from ..ops import REGISTRY, REQUIRED
from ..params import check_param_names, check_value, parse_param
from .context import RESERVED, Ctx, Flow, shape_env


def blocks_named_like_ops(blocks: PMap) -> list[SpecError]:
    """A block named like an op is never used (items of that name are the op): one error per such block."""
    return [error(f"block '{name}' has the name of an op, so items named '{name}' would use the op",
                  blocks.span_of(name, key_only=True), f"blocks.{name}", "rename the block")
            for name in blocks if name in REGISTRY]


class Blocks:
    """Mixin of the Expander."""

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
            value = self.argument(ptype, args[key], env, args.span_of(key), where)
            problem = check_value(ptype, value)
            if problem:
                raise error(f"block '{head}' param '{key}': {problem}", args.span_of(key), where)
            values[key] = value
        if shape is None:
            return self.poisoned(ctx, name, flow)
        layers = definition.get("layers")
        block_ctx = ctx._replace(blocks=ctx.blocks + (head,), path=f"{ctx.path} -> blocks.{head}.layers")
        block_env = self.bindings(definition.get("let"),
                                  {**self.params, **values, **shape_env(shape), **shape_env(shape, "block_")},
                                  f"blocks.{head}.let")
        out = self.group(name, layers, definition.span_of("layers"), block_ctx, inputs[0], kind="block",
                         title=head, env=block_env, args=values)
        self.register(ctx, name, out)
        return flow if side else out

    def argument(self, ptype, raw, env: dict, span, where: str):
        """A block argument, evaluated like every expression; a str param's declared choices are literal words."""
        if isinstance(raw, str) and raw in ptype.choices:
            if raw in env:
                raise error(f"'{raw}' is both a choice of this param and a name defined here", span, where,
                            f"rename one of them, or write the choice as \"'{raw}'\"")
            return raw
        try:
            return self.value(raw, env, span, where)
        except SpecError as exc:
            if ptype.name == "str" and isinstance(raw, str) and raw.isidentifier():
                exc.diagnostics[0].hint = (f"a str argument is an expression: to pass the word '{raw}', declare "
                                           f"the param as {{type: str, choices: [{raw}, ...]}} or quote it "
                                           f"(\"'{raw}'\")")
            raise

    def params_of(self, head: str) -> dict:
        if head not in self.block_params:
            definition = self.blocks[head]
            declared = definition.get("params") or PMap()
            check_param_names(declared, f"blocks.{head}.params")
            parsed = {}
            for key, raw in declared.items():
                try:
                    parsed[str(key)] = parse_param(raw)
                except ValueError as exc:
                    raise error(f"block '{head}' param '{key}': {exc}", declared.span_of(key),
                                f"blocks.{head}.params.{key}") from None
            self.block_params[head] = parsed
        return self.block_params[head]
