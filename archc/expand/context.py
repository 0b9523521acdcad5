"""The state expansion carries: flowing values, module levels, and the context of each item."""

from __future__ import annotations

import re
from collections import ChainMap
from dataclasses import dataclass
from typing import NamedTuple

from .. import limits
from ..errors import Note, Span, error
from ..loader import PList
from ..names import check_name
from ..ops import Shape

RESERVED = ("name", "from", "side")
GROUPS = ("group", "dense")
CONTROL = ("for", "if")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Flow:
    """A value flowing through the network: the node producing it and its shape (None once poisoned)."""

    node: str
    shape: Shape | None


class ScopeState:
    """Names used in one level of the module tree; unnamed items are numbered like nn.Sequential."""

    def __init__(self, path: str):
        self.path = path
        self.names: dict[str, Span | None] = {}  # name -> where it was given
        self.counter = 0
        self.suffixes: dict[str, int] = {}  # merge name -> the last suffix functional_id gave it

    def join(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def claim(self, name: str | None, span: Span | None, where: str) -> str:
        if name is None:
            while str(self.counter) in self.names:
                self.counter += 1
            name = str(self.counter)
        self.counter += 1
        if name in self.names:
            first = self.names[name]
            raise error(f"the name '{name}' is used twice in '{self.path or 'the top level'}'", span, where,
                        "give one of them another name", (Note("first used here", first),) if first else ())
        check_name(name, span, where)
        self.names[name] = span
        return name

    def functional_id(self, base: str) -> str:
        """`base`, else the first free `base_2`, `base_3`, ... (searched from the last one given: names are
        never released, so a loop of n merges costs n steps, not n^2 / 2)."""
        k = self.suffixes.get(base, 1)
        name = base if k == 1 else f"{base}_{k}"
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.suffixes[base] = k
        self.names[name] = None
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


def shape_env(shape: Shape | None, prefix: str = "") -> dict:
    """Names that describe an input: in_channels, in_height, in_width, in_shape (`prefix`: 'block_' for a block's own)."""
    if shape is None:
        return {}
    env = {"in_shape": list(shape), "in_channels": shape[0], "in_features": shape[0]}
    names = getattr(shape, "names", None)  # tokens [L, D], channels-last [H, W, C]: features last
    if names:
        env["in_channels"] = env["in_features"] = shape[-1]
        env.update({f"in_{word}": shape[names.index(n)] for n, word in (("L", "tokens"), ("H", "height"),
                                                                         ("W", "width")) if n in names})
    elif len(shape) == 3:
        env["in_height"], env["in_width"] = shape[1], shape[2]
    return {prefix + k: v for k, v in env.items()} if prefix else env


def single_item(item, span) -> PList:
    """A one-item list of layers, positioned at the item."""
    items = PList([item], span=span)
    items.item_spans = [span]
    return items


