"""`archc diff A B`: what differs between two architectures; exit 0 when equal, 1 when not (like diff)."""

from __future__ import annotations

import click

from ..diff import Diff, describe
from ..params import parse_override
from ..pipeline import analyze, parse_input
from . import main
from .messages import echo_json

MARKS = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow"), "reshaped": ("=", "cyan")}


def _params(texts, option: str) -> dict:
    params = {}
    for text in texts:
        try:
            key, value = parse_override(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
        params[key] = value
    return params


@main.command("diff")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param of both specs.")
@click.option("--set-a", "sets_a", multiple=True, metavar="NAME=VALUE", help="Override a param of A only.")
@click.option("--set-b", "sets_b", multiple=True, metavar="NAME=VALUE", help="Override a param of B only.")
@click.option("--input", "input_text", metavar="CxHxW", help="Input shape of both, e.g. 3x32x32.")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff_command(a, b, sets, sets_a, sets_b, input_text, as_json):
    """Compare two specs (files or bundled names) layer by layer, with totals and state_dict compatibility.

    Exit code 0 when the architectures are equal, 1 when they differ, 2 on usage errors.
    """
    from ..diff import diff

    both = _params(sets, "--set")
    try:
        shape = parse_input(input_text) if input_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    graph_a = analyze(a, {**both, **_params(sets_a, "--set-a")}, shape)
    graph_b = analyze(b, {**both, **_params(sets_b, "--set-b")}, shape)
    result = diff(graph_a, graph_b)
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo("\n".join(render(result)), color=None)
    raise click.exceptions.Exit(0 if result.equal else 1)


def render(result: Diff) -> list[str]:
    """The human form: one line per differing layer, the totals, and what of A's weights B loads."""
    a, b = result.a, result.b
    lines = [click.style(f"{a.name} -> {b.name}", bold=True)]
    if a.input_shape != b.input_shape:
        lines.append(f"  input {describe('shape', a.input_shape)} -> {describe('shape', b.input_shape)}")
    reshaped = [c.path for c in result.layers if c.kind == "reshaped"]
    width = max((len(c.path) for c in result.layers if c.kind != "reshaped"), default=0)
    for change in result.layers:
        if change.kind == "reshaped":
            continue
        mark, colour = MARKS[change.kind]
        node = change.a or change.b
        if change.kind == "changed":
            what = ", ".join(f"{k}: {describe(k, x)} -> {describe(k, y)}" for k, (x, y) in change.fields.items())
        else:
            what = f"{describe('shape', node.shape)}, {node.params:,} params"
        lines.append(click.style(f"  {mark} {change.path:<{width}}  {node.op:<10} {what}", fg=colour))
    if reshaped:
        shown = ", ".join(reshaped[:6]) + (f" and {len(reshaped) - 6} more" if len(reshaped) > 6 else "")
        lines.append(click.style(f"  = {len(reshaped)} layer(s) only see another input size: {shown}",
                                 fg=MARKS["reshaped"][1]))
    if result.equal:
        lines.append("  no differences in structure, params or shapes")
    for key, total in result.totals().items():
        lines.append(f"  {key}: {total['a']:,} -> {total['b']:,} ({total['delta']:+,})")
    state = result.state
    if state is not None:
        total = len(state.loadable) + len(state.unexpected) + len(state.mismatched)
        lines.append(f"  state_dict: {len(state.loadable)} of A's {total} entries load into B as they are")
        for key, x, y in state.mismatched:
            lines.append(f"    shape differs: {key} {list(x)} -> {list(y)}")
        for label, keys in (("missing in A", state.missing), ("not in B", state.unexpected)):
            if keys:
                lines.append(f"    {label}: " + ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else ""))
    return lines
