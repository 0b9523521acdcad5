"""Python expressions as small trees, written out the way `ruff format` (and black) lays them out.

A line that fits in 88 columns stays whole; a bracketed expression that does not first puts all its
items on one indented line ("hugging"), and failing that, one item a line with a trailing comma.
The emitted files are `ruff format`-clean without ruff being present.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

WIDTH = 88


@dataclass(frozen=True)
class Seq:
    """`head(items)`, `[items]`, ...: items are expressions, or (prefix, expression) for `key=value`."""

    head: str
    items: tuple
    open: str = "("
    close: str = ")"


@dataclass(frozen=True)
class Comp:
    """A comprehension: `[element for i in range(n)]`, `{key: value for ...}` (element ("key: ", value))."""

    element: object
    clause: str
    open: str = "["
    close: str = "]"
    prefix: str = ""  # `*` for a starred comprehension


def display(value):
    """A constant as an expression tree: lists, tuples and dicts may then break over lines."""
    if isinstance(value, list) and value:
        return Seq("", tuple(map(display, value)), "[", "]")
    if isinstance(value, tuple) and len(value) > 1:
        return Seq("", tuple(map(display, value)), "(", ")")
    if isinstance(value, dict) and value:
        return Seq("", tuple((f"{literal(k)}: ", display(v)) for k, v in value.items()), "{", "}")
    return literal(value)


def literal(value) -> str:
    """A constant as ruff writes it (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, tuple):
        inner = ", ".join(map(literal, value))
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(map(literal, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _item(item) -> tuple[str, object]:
    return item if isinstance(item, tuple) else ("", item)


def flat(expr) -> str:
    """The expression on one line."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, Comp):
        prefix, value = _item(expr.element)
        element = prefix + flat(value)
        return f"{expr.prefix}{expr.open}{element} {expr.clause}{expr.close}"
    inner = ", ".join(prefix + flat(value) for prefix, value in map(_item, expr.items))
    return f"{expr.head}{expr.open}{inner}{expr.close}"


def lines(expr, indent: str, prefix: str = "", suffix: str = "") -> list[str]:
    """`prefix + expr + suffix` at `indent`, broken over lines where it does not fit.

    As black does: a lone item goes on its own line(s) without a comma; several items of a call
    first share one indented line; a display (`[...]`, `{...}`) of several items, and any items
    that cannot share a line, go one a line with a trailing comma.
    """
    one = f"{indent}{prefix}{flat(expr)}{suffix}"
    if len(one) <= WIDTH or isinstance(expr, str):
        return [one]
    inner = indent + "    "
    if isinstance(expr, Comp):
        head, tail = f"{indent}{prefix}{expr.prefix}{expr.open}", f"{indent}{expr.close}{suffix}"
        element_prefix, element = _item(expr.element)
        hug = f"{inner}{element_prefix}{flat(element)} {expr.clause}"
        if len(hug) <= WIDTH:
            return [head, hug, tail]
        return [head, *lines(element, inner, element_prefix), f"{inner}{expr.clause}", tail]
    items = [_item(item) for item in expr.items]
    head, tail = f"{indent}{prefix}{expr.head}{expr.open}", f"{indent}{expr.close}{suffix}"
    if len(items) == 1:
        return [head, *lines(items[0][1], inner, items[0][0]), tail]
    hug = inner + ", ".join(p + flat(v) for p, v in items)
    if expr.head and len(hug) <= WIDTH:
        return [head, hug, tail]
    out = [head]
    for item_prefix, value in items:
        out.extend(lines(value, inner, item_prefix, ","))
    return out + [tail]


def with_comment(line: str, comment: str) -> str:
    """`line  # comment` where that still fits (ruff would otherwise try to split the line)."""
    full = f"{line}  # {comment}"
    return full if len(full) <= WIDTH else line
