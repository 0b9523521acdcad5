"""Block libraries: files with `blocks:` and no `layers:`, made to be `imports:`-ed by specs.

A library has no input, so its shapes cannot be inferred; `check` goes as far as a file without an
input allows: the schema, each block's param declarations, and that every op or block a block uses
exists (in the registry, the file or its own imports).
"""

from __future__ import annotations

from .errors import Collector, did_you_mean, error
from .expand.blocks import blocks_named_like_ops
from .expand.context import CONTROL, GROUPS, RESERVED
from .loader import PMap
from .ops import REGISTRY
from .params import parse_param
from .schema import validate as validate_structure


def is_library(doc: PMap) -> bool:
    return isinstance(doc.get("blocks"), PMap) and "layers" not in doc


def check(doc: PMap) -> list[str]:
    """The names of a library's blocks; raises SpecError with every problem found."""
    validate_structure(doc)
    blocks = doc["blocks"]
    errors = Collector()
    for problem in blocks_named_like_ops(blocks):
        errors.add(problem)
    for name, block in blocks.items():
        where = f"blocks.{name}"
        for key, raw in (block.get("params") or PMap()).items():
            try:
                parse_param(raw)
            except ValueError as exc:
                errors.add(error(f"block '{name}' param '{key}': {exc}", block["params"].span_of(key),
                                 f"{where}.params.{key}"))
        _Uses(set(map(str, blocks)), errors).body(block.get("layers"), f"{where}.layers")
    errors.raise_if_any()
    return [str(name) for name in blocks]


class _Uses:
    """Walks a block's layers and reports every op or block name that does not exist."""

    def __init__(self, blocks: set[str], errors: Collector):
        self.blocks, self.errors = blocks, errors

    def body(self, value, path: str) -> None:
        if isinstance(value, PMap):
            for key, entry in value.items():
                self.entry(entry, f"{path}.{key}", value.span_of(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.item(item, f"{path}[{i}]", value.span_of(i))

    def entry(self, value, path: str, span) -> None:
        """A mapping entry: a layer, a sequence of layers, or nothing."""
        if isinstance(value, list):
            self.body(value, path)
        elif value is not None:
            self.item(value, path, span)

    def item(self, item, path: str, span) -> None:
        if isinstance(item, str):
            self.head(item, path, span)
        elif isinstance(item, PMap) and "for" in item:
            self.body(item.get("do"), f"{path}.do")
        elif isinstance(item, PMap) and "if" in item:
            for branch in ("then", "else"):
                self.body(item.get(branch), f"{path}.{branch}")
        elif isinstance(item, PMap) and len(item) == 1:
            head, args = next(iter(item.items()))
            self.head(str(head), path, span)
            if head in GROUPS:
                self.body(args.get("layers") if isinstance(args, PMap) else args, f"{path}.{head}")
            elif head in REGISTRY and REGISTRY[head].merge and isinstance(args, PMap):
                for key, branch in args.items():
                    if key not in RESERVED:
                        self.entry(branch, f"{path}.{head}.{key}", args.span_of(key))

    def head(self, head: str, path: str, span) -> None:
        if head in REGISTRY or head in GROUPS or head in self.blocks:
            return
        known = [*REGISTRY, *self.blocks, *GROUPS, *CONTROL]
        self.errors.add(error(f"unknown op or block '{head}'", span, path,
                              did_you_mean(head, known) or "ops: " + ", ".join(sorted(REGISTRY))))

