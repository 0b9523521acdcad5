"""One class per block of the spec: instances grouped by block name, what differs made parameters.

The IR is unrolled, so each block instance is compared with the others of its block: the same
children (constructors that unify) and the same forward statements, except for optional parts (a
projection present in some instances only, taking one value: the others use that value directly).
Values that differ become constructor parameters, named after the block's params where their values
match (`width`, `c2[0]`, `4 * width`), `in_channels` for the input's channels, else after the
argument they fill. Instances that do not fit one class make a second class (`Basic2`).
"""

from __future__ import annotations

import keyword
from collections import Counter
from dataclasses import dataclass, field

from .ctors import (MISSING, REQUIRED, Arg, Ctor, Expr, Hole, fits, holes, leaf_ctor, same, substitute,
                    tensor_ctor, unify, without_inplace)
from ..ops.layout import last_dim_layout
from .forward import attribute
from .lowering import node_call
from .torch_module import class_name
from .units import Units, join, relative


@dataclass
class Instance:
    """One block instance: its children's constructors and its forward statements (key, what, inputs)."""

    path: str
    children: dict[str, object]
    stmts: list[tuple[str, tuple, tuple]]
    numbered: bool
    args: dict
    in_channels: object
    tensors: dict[str, object]  # learnable tensors of its frame, by path relative to it -> constructor


@dataclass
class Param:
    name: str
    values: list
    default: object = REQUIRED


@dataclass
class BlockClass:
    name: str
    title: str
    params: list[Param]
    children: dict[str, object]  # name -> constructor (holes replaced by parameter expressions)
    optional: dict[str, str]  # child -> the flag parameter that makes it
    touching: set[str]  # statements whose first input may be an optional part's input: never in place
    template: Instance
    tensors: dict[str, object]  # relative path -> constructor of a learnable tensor (layer scale)
    instances: list[Instance] = field(default_factory=list)


# names a block class's __init__ uses besides its parameters (a comprehension's `i`, `range`, ...)
RESERVED = {"self", "nn", "torch", "super", "range", "str", "i", "_"}


class Classes:
    """Block classes for a graph's units, and the constructor call of every unit and level.

    `taken`: names the file defines or imports otherwise (the model class, helpers, plugin classes).
    """

    def __init__(self, units: Units, taken: set[str]):
        self.units, self.graph, self.tree = units, units.graph, units.tree
        self.imports: set[str] = set()
        self.calls: dict[str, Ctor] = {}
        self.classes: list[BlockClass] = []
        self.taken = set(taken)
        blocks = [u for u in units.units.values() if u.kind == "block"]
        for title in self._titles(blocks):
            self._make(title, [u for u in blocks if self.graph.scopes[u.path].title == title])

    def _titles(self, blocks) -> list[str]:
        """Block names, inner blocks before the blocks that contain them."""
        titles = list(dict.fromkeys(self.graph.scopes[u.path].title for u in blocks))
        inner: dict[str, set[str]] = {t: set() for t in titles}
        for unit in blocks:
            for other in blocks:
                if other.path.startswith(unit.path + "."):
                    inner[self.graph.scopes[unit.path].title].add(self.graph.scopes[other.path].title)
        order: list[str] = []
        while len(order) < len(titles):
            ready = [t for t in titles if t not in order and inner[t] - {t} <= set(order)]
            order.append(ready[0] if ready else next(t for t in titles if t not in order))
        return order

    def ctor(self, path: str):
        """The constructor of the module at `path`: a layer, a block's class, or a container of children."""
        unit = self.units.units.get(path)
        if unit is not None and unit.kind == "leaf":
            return leaf_ctor(node_call(self.graph, unit.nodes[0], self.units.inplace), self.imports)
        if unit is not None and unit.kind == "block":
            return self.calls[path]
        names = self.tree.children[path]
        entries = tuple(Arg(self.units.name(join(path, n)), self.ctor(join(path, n)), positional=True) for n in names)
        if unit is not None and unit.kind in ("dense", "chain"):
            return Ctor("DenseBlock" if unit.kind == "dense" else "Chain", entries, mapping=True)
        if self.tree.numbered(path):
            return Ctor("nn.Sequential", entries)
        return Ctor("nn.ModuleDict", entries, mapping=True)

    def instance(self, path: str) -> Instance:
        reduced, keys = self.units.reduced(path)
        stmts = []
        for node in reduced.nodes:
            key = keys[node.id]
            what = ("module",) if node.module is not None else ("fn", node.op, repr(node.attrs))
            stmts.append((key, what, tuple(keys.get(i, "<in>") for i in node.inputs)))
        unit = self.units.units[path]
        shape = self.graph.shape_of(unit.input)
        children = {self.units.name(join(path, n)): self.ctor(join(path, n)) for n in self.tree.children[path]}
        tensors = {relative(n.module, path): tensor_ctor(self.graph, n) for n in self.units.members(path)
                   if n.spec.tensor and self.units.frame_of(n) == path}
        channels = (shape[-1] if last_dim_layout(shape) else shape[0]) if shape else None  # [H, W, C]: C
        return Instance(path, children, stmts, self.tree.numbered(path), dict(self.graph.scopes[path].args or {}),
                        channels, tensors)

    def _make(self, title: str, units) -> None:
        for group, template in _grouped([self.instance(unit.path) for unit in units]):
            name = self._name(class_name(title))
            block = _block_class(name, title, group, template, RESERVED | self.taken)
            self.classes.append(block)
            for k, inst in enumerate(group):
                self.calls[inst.path] = Ctor(name, tuple(Arg(p.name, p.values[k], p.default, p.default is REQUIRED)
                                                         for p in block.params))

    def _name(self, base: str) -> str:
        name, k = base, 2
        while name in self.taken:
            name, k = f"{base}{k}", k + 1
        self.taken.add(name)
        return name


def _grouped(instances: list[Instance]) -> list[tuple[list[Instance], Instance]]:
    """Instances in groups that one class describes, each with its template (the instance with every
    part). A group's template grows as instances join it, so groups are merged again until none fit
    together (a projection-only instance and a stochastic-depth-only one, then one with both)."""
    groups: list[tuple[list[Instance], Instance]] = []
    for inst in instances:
        for k, (group, template) in enumerate(groups):
            merged = _merge(template, inst)
            if merged is not None:
                groups[k] = (group + [inst], merged)
                break
        else:
            groups.append(([inst], inst))
    k = 0
    while k < len(groups):
        for j in range(k + 1, len(groups)):
            merged = _merge(groups[k][1], groups[j][1])
            if merged is not None:
                groups[k] = (groups[k][0] + groups.pop(j)[0], merged)
                break
        else:
            k += 1
    return groups


def _subsequence(short: list, long: list) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def _merge(a: Instance, b: Instance) -> Instance | None:
    """The instance of the two with every part, if the other is it less some optional parts."""
    if a.numbered != b.numbered or list(a.tensors) != list(b.tensors) or \
            not all(fits(a.tensors[k], b.tensors[k]) for k in a.tensors):
        return None
    big, small = (a, b) if len(a.stmts) >= len(b.stmts) else (b, a)
    if not _subsequence(list(small.children), list(big.children)):
        return None
    absent = set(big.children) - set(small.children)
    inputs = {key: ins for key, _, ins in big.stmts}
    if big.numbered and absent or any(not attribute(k) or len(inputs.get(k, ())) != 1 for k in absent):
        return None

    def resolve(key: str) -> str:
        while key in absent:
            key = inputs[key][0]
        return key

    kept = [(key, what, tuple(map(resolve, ins))) for key, what, ins in big.stmts if key not in absent]
    if kept != small.stmts:
        return None
    if not all(fits(big.children[n], small.children[n]) for n in small.children):
        return None
    return big


def _block_class(name: str, title: str, group: list[Instance], template: Instance, reserved: set[str]) -> BlockClass:
    """The class of a group of compatible instances: parameters from the values that differ."""
    absent = [c for c in template.children if not all(c in inst.children for inst in group)]
    inputs = {key: ins for key, _, ins in template.stmts}
    shared = {*absent, *(inputs[c][0] for c in absent)}  # where absent, a part's output is its input
    touching = {key for key, _, ins in template.stmts if ins and ins[0] in shared}
    patched = {key.split(".")[0] for key in touching}  # the child holding each such statement
    children = {n: unify([(without_inplace if n in patched else _same)(inst.children.get(n, MISSING))
                          for inst in group], n) for n in template.children}
    tensors = {k: unify([inst.tensors[k] for inst in group], k) for k in template.tensors}
    namer = _Namer(group, reserved)
    exprs = {hole: namer.expr(hole) for value in [*children.values(), *tensors.values()] for hole in holes(value)}
    optional = {c: namer.flag(c, [c in inst.children for inst in group]) for c in absent}
    return BlockClass(name, title, namer.ordered(), {n: substitute(v, exprs) for n, v in children.items()},
                      optional, touching, template, {k: substitute(v, exprs) for k, v in tensors.items()}, group)


def _same(value):
    return value


_MULTIPLES = range(2, 9)


class _Namer:
    """Parameters for holes: a block param or in_channels whose values match, a multiple of one, or new."""

    def __init__(self, group: list[Instance], reserved: set[str]):
        self.group, self.reserved = group, reserved
        self.params: dict[str, Param] = {}
        self.sources: dict[str, list] = {}
        for key in group[0].args:  # the block's own params first: their names are the spec's
            if all(key in inst.args for inst in group) and key.isidentifier() and not keyword.iskeyword(key) \
                    and key not in reserved:
                self.sources.setdefault(key, [inst.args[key] for inst in group])
        if all(inst.in_channels is not None for inst in group):
            self.sources.setdefault("in_channels", [inst.in_channels for inst in group])

    def expr(self, hole: Hole) -> Expr:
        values = hole.values
        for name, param in self.params.items():
            if _matches(values, param.values):
                return Expr(name)
        for name, source in self.sources.items():
            if _matches(values, source):
                return Expr(self._param(name, source, hole.default).name)
            if all(isinstance(s, (list, tuple)) for s in source) and len({len(s) for s in source}) == 1:
                for k in range(len(source[0])):
                    if _matches(values, [s[k] for s in source]):
                        return Expr(f"{self._param(name, source).name}[{k}]")
        for name, source in [*self.params.items(), *self.sources.items()]:
            base = source.values if isinstance(source, Param) else source
            for m in _MULTIPLES:
                if _ints(base) and _matches(values, [m * v for v in base]):
                    return Expr(f"{m} * {self._param(name, base).name}")
                if _ints(base) and all(v % m == 0 for v in base) and _matches(values, [v // m for v in base]):
                    return Expr(f"{self._param(name, base).name} // {m}")
        filled = [v if v is not MISSING else _common(values) for v in values]
        return Expr(self._param(self._fresh(hole.key), filled, hole.default).name)

    def flag(self, child: str, present: list[bool]) -> str:
        for name, source in self.sources.items():
            if _matches(present, source):
                return self._param(name, source).name
        return self._param(self._fresh(child), present, False).name

    def _param(self, name: str, values: list, default=REQUIRED) -> Param:
        if name not in self.params:
            ok = default is not REQUIRED and any(same(v, default) for v in values)
            self.params[name] = Param(name, list(values), default if ok else REQUIRED)
        return self.params[name]

    def _fresh(self, key: str) -> str:
        base = key if key.isidentifier() and not keyword.iskeyword(key) and key not in self.reserved else f"{key}_arg"
        base = base if base.isidentifier() else "arg"
        name, k = base, 2
        while name in self.params or name in self.sources or name in self.reserved:
            name, k = f"{base}{k}", k + 1
        return name

    def ordered(self) -> list[Param]:
        """Parameters without defaults first (in_channels, then in order of use), then those with."""
        params = sorted(self.params.values(), key=lambda p: p.name != "in_channels")
        return [p for p in params if p.default is REQUIRED] + [p for p in params if p.default is not REQUIRED]


def _matches(values, source) -> bool:
    return all(v is MISSING or same(v, s) for v, s in zip(values, source, strict=True))


def _ints(values) -> bool:
    return all(type(v) is int for v in values)


def _common(values):
    counts = Counter(repr(v) for v in values if v is not MISSING)
    best = counts.most_common(1)[0][0]
    return next(v for v in values if v is not MISSING and repr(v) == best)
