"""Constructor expressions as data: what builds each module, compared across block instances.

A `Ctor` is `func(args)` with every argument the target takes (defaults included), so that two
instances of a block compare argument by argument; `unify` turns values that differ between
instances into `Hole`s, which `classes.py` makes constructor parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lowering import _compact, signature_of, source_name


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


REQUIRED = _Marker("REQUIRED")  # an argument without a default: always written
MISSING = _Marker("MISSING")  # an optional part absent from this instance


@dataclass(frozen=True)
class Arg:
    key: str
    value: object  # a constant, a Ctor, a Hole (differs between instances) or an Expr (source text)
    default: object = REQUIRED
    positional: bool = False


@dataclass(frozen=True)
class Ctor:
    func: str
    args: tuple
    mapping: bool = False  # `func({"name": module, ...})` (nn.ModuleDict) rather than `func(*args)`


@dataclass(frozen=True, eq=False)
class Hole:
    values: tuple  # one per instance (MISSING where the part is absent)
    key: str  # the argument it fills: the name a new parameter takes
    default: object = REQUIRED


@dataclass(frozen=True)
class Expr:
    text: str


class Mismatch(Exception):
    """Instances that no one constructor describes."""


def same(a, b) -> bool:
    """Equal and of the same type (1, 1.0 and True are different constructor arguments)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def leaf_ctor(call, imports: set[str]) -> Ctor:
    """The Ctor of an op's Call, every parameter of the target bound (defaults made explicit)."""
    name, needs = source_name(call.target)
    if needs:
        imports.add(needs)
    signature = signature_of(call.target)
    bound = signature.bind(*call.args, **call.kwargs).arguments
    args = []
    for key, param in signature.parameters.items():
        if param.kind is param.VAR_POSITIONAL:
            args.extend(Arg(key, _compact(v), positional=True) for v in bound.get(key, ()))
        elif param.kind is param.VAR_KEYWORD:
            args.extend(Arg(k, _compact(v)) for k, v in bound.get(key, {}).items())
        elif param.default is param.empty:
            args.append(Arg(key, _compact(bound[key]), positional=param.kind is not param.KEYWORD_ONLY))
        else:
            args.append(Arg(key, _compact(bound.get(key, param.default)), _compact(param.default)))
    return Ctor(name, tuple(args))


def tensor_ctor(graph, node) -> Ctor:
    """`nn.Parameter(nn.init.constant_(torch.empty(96, 1, 1), val=1e-06))`: a Tensor-lowered node's value."""
    lower = node.spec.lower
    shape = lower.shape(node.attrs, [graph.shape_of(i) for i in node.inputs])
    scheme, args = lower.fill(node.attrs)
    empty = Ctor("torch.empty", tuple(Arg(f"size{k}", size, positional=True) for k, size in enumerate(shape)))
    fill = Ctor(f"nn.init.{scheme}_", (Arg("tensor", empty, positional=True), *(Arg(k, v) for k, v in args.items())))
    return Ctor("nn.Parameter", (Arg("data", fill, positional=True),))


def unify(values: list, key: str = "", default=REQUIRED):
    """One expression for per-instance values: a constant, a Ctor of unified arguments, or a Hole."""
    present = [v for v in values if v is not MISSING]
    ctors = [v for v in present if isinstance(v, Ctor)]
    if ctors and len(ctors) != len(present):
        raise Mismatch(key)
    if ctors:
        first = ctors[0]
        shape = [(a.key, a.positional, a.default) for a in first.args]
        for other in ctors[1:]:
            if other.func != first.func or other.mapping != first.mapping or \
                    [(a.key, a.positional, a.default) for a in other.args] != shape:
                raise Mismatch(key)
        args = []
        for k, arg in enumerate(first.args):
            column = [v.args[k].value if v is not MISSING else MISSING for v in values]
            args.append(Arg(arg.key, unify(column, arg.key, arg.default), arg.default, arg.positional))
        return Ctor(first.func, tuple(args), first.mapping)
    if all(same(v, present[0]) for v in present[1:]):
        return present[0]
    return Hole(tuple(values), key, default)


def holes(value) -> list[Hole]:
    """The holes of a unified expression, in argument order."""
    if isinstance(value, Hole):
        return [value]
    if isinstance(value, Ctor):
        return [h for arg in value.args for h in holes(arg.value)]
    return []


def substitute(value, exprs: dict):
    """The expression with each hole replaced by its Expr."""
    if isinstance(value, Hole):
        return exprs[value]
    if isinstance(value, Ctor):
        return Ctor(value.func, tuple(Arg(a.key, substitute(a.value, exprs), a.default, a.positional)
                                      for a in value.args), value.mapping)
    return value


def without_inplace(value):
    """The expression with every `inplace=` argument False (in-place never changes a value)."""
    if not isinstance(value, Ctor):
        return value
    return Ctor(value.func, tuple(Arg(a.key, False if a.key == "inplace" else without_inplace(a.value), a.default,
                                      a.positional) for a in value.args), value.mapping)


def fits(a, b) -> bool:
    """Whether two constructors unify (same targets and arguments, values aside)."""
    try:
        unify([a, b])
    except Mismatch:
        return False
    return True
