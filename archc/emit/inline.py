"""archc's own torch modules (archc/nn) copied into an emitted file, so that it imports only torch.

The ops name the classes they lower to (`Call("archc.nn.layers.StochasticDepth", ...)`); the
emitter copies each such class, with the functions, classes and constants of archc/nn that it uses
(found by reading the module's source: names it mentions that the module defines or imports from
archc.nn), each once, every definition after those it uses, and the torch imports they need.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from functools import lru_cache

from ..ir import Graph
from .lowering import inlined, node_call


@dataclass(frozen=True)
class Definition:
    """A top-level function, class or constant of an archc.nn module: its source, the archc.nn
    definitions it uses (`archc.nn.layers.StochasticDepth`) and the import lines it needs."""

    source: str
    uses: tuple[str, ...]
    imports: tuple[str, ...]


def _bindings(module: str, tree: ast.Module) -> dict[str, str]:
    """Names the module's imports bind: archc.nn definitions by qualified name, others by import line."""
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = ast.unparse(ast.Import([alias]))
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            package = module.rpartition(".")[0]  # archc.nn modules are not packages
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            for alias in node.names:
                name = alias.asname or alias.name
                qualified = f"{source}.{alias.name}"
                bound[name] = qualified if inlined(qualified) else \
                    ast.unparse(ast.ImportFrom(node.module, [alias], node.level))
    return bound


def _name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


@lru_cache(maxsize=None)
def definitions(module: str) -> dict[str, Definition]:
    """The top-level definitions of an archc.nn module, by qualified name."""
    text = inspect.getsource(importlib.import_module(module))
    lines = text.splitlines()
    tree = ast.parse(text)
    bound = _bindings(module, tree)
    local = {name: node for node in tree.body if (name := _name(node))}
    found = {}
    for name, node in local.items():
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - {name}
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        outside = [bound[n] for n in used if n not in local and n in bound]
        mine = sorted((n for n in used if n in local), key=lambda n: local[n].lineno)  # in the module's order
        uses = [f"{module}.{n}" for n in mine] + sorted(b for b in outside if inlined(b))
        imports = sorted(b for b in outside if not inlined(b))
        found[f"{module}.{name}"] = Definition("\n".join(lines[start - 1:node.end_lineno]), tuple(uses),
                                               tuple(imports))
    return found


def definition(qualified: str) -> Definition:
    module, _, _ = qualified.rpartition(".")
    return definitions(module)[qualified]


def targets(graph: Graph) -> list[str]:
    """The archc.nn classes the graph's layers are made of, sorted."""
    found = set()
    for node in graph.nodes:
        if node.module is not None and not node.spec.tensor:
            target = node_call(graph, node, set()).target
            if inlined(target):
                found.add(target)
    return sorted(found)


def closure(roots: list[str]) -> list[str]:
    """The roots and every definition they use, each once, every definition after those it uses.

    The file defines them by their short names, so two of one name (archc.nn modules sharing a
    helper's name) would silently shadow each other: that is refused, as a bug of archc.nn."""
    order: list[str] = []
    seen: set[str] = set()  # visited or being visited: definitions that use each other are copied once each

    def visit(name: str) -> None:
        if name not in seen:
            seen.add(name)
            for used in definition(name).uses:
                visit(used)
            order.append(name)

    for root in roots:
        visit(root)
    short: dict[str, str] = {}
    for name in order:
        other = short.setdefault(name.rpartition(".")[2], name)
        if other != name:
            raise RuntimeError(f"{other} and {name} would both be copied as {name.rpartition('.')[2]}: rename one")
    return order


@dataclass(frozen=True)
class Inlined:
    """The archc.nn definitions a graph's layers need, as source for the emitted file."""

    source: str  # definitions two blank lines apart ('' for none)
    imports: frozenset[str]  # the import lines they need (torch only)
    names: frozenset[str]  # the top-level names they define or import there

    @classmethod
    def of(cls, graph: Graph) -> "Inlined":
        names = closure(targets(graph))
        imports = {i for n in names for i in definition(n).imports}
        bound = {i.rpartition(" ")[2] for i in imports}  # `import torch`, `... import functional as F`
        return cls("\n\n\n".join(definition(n).source for n in names), frozenset(imports),
                   frozenset({n.rpartition(".")[2] for n in names} | bound))
