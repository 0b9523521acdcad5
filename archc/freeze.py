"""`freeze:` in a spec: module path prefixes whose parameters are not trained (requires_grad=False).

`freeze: [features, classifier.0]` freezes every parameter of `features` and of `classifier.0`; a
prefix matches whole path components (`features` covers `features.3.weight`, not `features2`).
"""

from __future__ import annotations

from .errors import Collector, did_you_mean, error
from .ir import Graph
from .loader import PList, PMap


def covers(prefix: str, path: str | None) -> bool:
    """Whether module (or parameter) `path` lies under the module path `prefix`."""
    return path is not None and (path == prefix or path.startswith(prefix + "."))


def module_paths(graph: Graph) -> list[str]:
    """Every module path of the graph: its layers and each level above them."""
    paths: dict[str, None] = {}
    for node in graph.nodes:
        if node.module:
            parts = node.module.split(".")
            paths.update((".".join(parts[:k]), None) for k in range(1, len(parts) + 1))
    return list(paths)


def check(doc: PMap, graph: Graph) -> tuple[str, ...]:
    """The spec's `freeze` prefixes, each naming a module of `graph`; a located error for one that does not."""
    value = doc.get("freeze")
    if value is None:
        return ()
    if isinstance(value, PList):
        items = [(prefix, value.span_of(i), f"freeze[{i}]") for i, prefix in enumerate(value)]
    else:
        items = [(value, doc.span_of("freeze"), "freeze")]
    paths = module_paths(graph)
    errors = Collector()
    for prefix, span, where in items:
        if not any(covers(prefix, p) for p in paths):
            hint = did_you_mean(prefix, paths) or "name a module path as in the state_dict keys, e.g. " + (
                ", ".join(paths[:3]) or "features")
            errors.add(error(f"freeze: no module '{prefix}' in the model", span, where, hint))
    errors.raise_if_any()
    return tuple(prefix for prefix, _, _ in items)


def count(graph: Graph, prefixes: tuple[str, ...]) -> int:
    """How many of the graph's parameters the prefixes freeze."""
    return sum(n.params for n in graph.nodes if any(covers(p, n.module) for p in prefixes))


def apply(model, prefixes: tuple[str, ...]) -> None:
    """Set requires_grad=False on every parameter under the prefixes."""
    for prefix in prefixes:
        model.get_submodule(prefix).requires_grad_(False)
