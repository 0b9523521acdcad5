"""The default `--emit python` body: one class per block (classes.py), the model class, and loops.

Repeated blocks become `nn.Sequential(first, *[Block(...) for _ in range(n)])`, dense blocks a small
`DenseBlock` helper built from a dict comprehension; a block class's forward is written once from one
instance (the one with every optional part), the model's forward carries shape comments.
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..ir import INPUT
from ..ops import REGISTRY
from . import pyformat as pf
from .classes import BlockClass, Classes
from .ctors import (
    REQUIRED,
    Ctor,
    Expr,
    Mismatch,
    holes,
    same,
    substitute,
    tensor_ctor,
    unify,
)
from .forward import attribute, forward_source
from .lowering import node_call, source_name
from .python_source import (
    composites,
    init_plan,
    model_name,
    skip_lines,
    skip_test,
    tensor_access,
)
from .units import Units, join, relative

_RUN = 3  # this many alike constructors in a row become a comprehension


def render(value):
    """A pyformat expression for a constructor (runs of alike children as comprehensions) or a value."""
    if isinstance(value, Expr):
        return value.text
    if not isinstance(value, Ctor):
        return pf.display(value)
    if value.mapping:
        return _mapping(value)
    if value.func == "nn.Sequential":
        return pf.Seq(value.func, tuple(_runs([a.value for a in value.args])))
    items = []
    for arg in value.args:
        if arg.default is not REQUIRED and not isinstance(arg.value, (Expr, Ctor)) and same(arg.value, arg.default):
            continue
        items.append(render(arg.value) if arg.positional else (f"{arg.key}=", render(arg.value)))
    return pf.Seq(value.func, tuple(items))


def _progression(values: list) -> str | None:
    """`a + i * d` for ints in arithmetic progression over `i`."""
    if not all(type(v) is int for v in values) or len(values) < 2:
        return None
    a, d = values[0], values[1] - values[0]
    if any(v != a + k * d for k, v in enumerate(values)):
        return None
    step = "i" if abs(d) == 1 else f"i * {abs(d)}"
    return step if a == 0 and d > 0 else f"{a} {'+' if d > 0 else '-'} {step}"


def _pattern(ctors: list):
    """One constructor over `i` for a run (None if the values are not constants or progressions)."""
    if not all(isinstance(c, Ctor) for c in ctors):
        return None
    try:
        template = unify(list(ctors))
    except Mismatch:
        return None
    exprs = {}
    for hole in holes(template):
        text = _progression(list(hole.values))
        if text is None:
            return None
        exprs[hole] = Expr(text)
    return substitute(template, exprs), bool(exprs)


def _runs(children: list) -> list:
    """Sequential items: a run of alike constructors becomes `*[Block(...) for i in range(n)]`."""
    items, k = [], 0
    while k < len(children):
        end = k + 1
        while end < len(children) and _pattern(children[k:end + 1]) is not None:
            end += 1
        if end - k >= _RUN:
            element, varies = _pattern(children[k:end])
            items.append(pf.Comp(render(element), f"for {'i' if varies else '_'} in range({end - k})", prefix="*"))
        else:
            items.extend(render(c) for c in children[k:end])
        k = end
    return items


def _mapping(ctor: Ctor):
    """`func({"name": module, ...})`, or a dict comprehension where names and modules count up."""
    names, values = [a.key for a in ctor.args], [a.value for a in ctor.args]
    found = _pattern(values) if len(values) >= 2 else None
    match = re.fullmatch(r"([A-Za-z_]*)(\d+)", names[0]) if names else None
    if found and match:
        prefix, start = match.group(1), int(match.group(2))
        if names == [f"{prefix}{start + k}" for k in range(len(names))] and (start == 0 or prefix):
            index = "i" if start == 0 else f"i + {start}"
            key = "str(i)" if not prefix else f'f"{prefix}{{{index}}}"'
            comp = pf.Comp((f"{key}: ", render(found[0])), f"for i in range({len(names)})", "{", "}")
            return pf.Seq(ctor.func, (comp,))
    entries = tuple((f"{pf.literal(n)}: ", render(v)) for n, v in zip(names, values))
    return pf.Seq(ctor.func, (pf.Seq("", entries, "{", "}"),))


def _assign(name: str, value, indent: str) -> list[str]:
    if attribute(name):
        return pf.lines(render(value), indent, f"self.{name} = ")
    return pf.lines(pf.Seq("self.add_module", (pf.literal(name), render(value))), indent)


def _optional(name: str, flag: str, value, indent: str) -> list[str]:
    one = f"{indent}self.{name} = {pf.flat(render(value))} if {flag} else None"
    if len(one) <= pf.WIDTH:
        return [one]
    return [f"{indent}self.{name} = None", f"{indent}if {flag}:", *_assign(name, value, indent + "    ")]


def _children(children: dict, optional: dict, numbered: bool, indent: str) -> list[str]:
    """`super().__init__()` and the assignments of the children (an nn.Sequential passes them on)."""
    if numbered:
        return pf.lines(pf.Seq("super().__init__", tuple(_runs(list(children.values())))), indent)
    out = [f"{indent}super().__init__()"]
    for name, value in children.items():
        out.extend(_optional(name, optional[name], value, indent) if name in optional else
                   _assign(name, value, indent))
    return out


def _forward(units: Units, frame: str, comments: bool, inplace: set[str], optional=()) -> list[str]:
    reduced, _ = units.reduced(frame)
    if reduced.nodes and all(n.module == str(k) for k, n in enumerate(reduced.nodes)) and \
            all(n.inputs == [reduced.nodes[k - 1].id if k else INPUT] for k, n in enumerate(reduced.nodes)) and \
            [o.node for o in reduced.outputs] == [reduced.nodes[-1].id] and frame:
        return []  # a chain of numbered children: nn.Sequential's own forward
    text = forward_source(reduced, "readable", indent="    ", inplace=inplace, comments=comments)
    out = []
    for line in text.rstrip("\n").split("\n"):
        code, _, comment = line.partition("  # ")
        line = pf.with_comment(code, comment) if comment else code
        match = re.fullmatch(r"(\s*)(\w+) = self\.(\w+)\((\w+)\)", line)
        if match and match.group(3) in optional:
            pad, target, name, arg = match.groups()
            line = f"{pad}{target} = self.{name}({arg}) if self.{name} is not None else {arg}"
            if len(line) > pf.WIDTH:
                out.extend([f"{pad}{target} = {arg}", f"{pad}if self.{name} is not None:",
                            f"{pad}    {target} = self.{name}({arg})"])
                continue
        out.append(line)
    return ["", *out]


def block_source(block: BlockClass, units: Units, inits: list) -> list[str]:
    """The class of one block: constructor with the differing values as parameters, the path rules of
    `init:` that hold for all its instances (`inits`), forward once."""
    template = block.template
    reduced, keys = units.reduced(template.path)
    touching = {n.id for n in reduced.nodes if keys[n.id] in block.touching}
    params = tuple(p.name if p.default is REQUIRED else f"{p.name}={pf.literal(p.default)}" for p in block.params)
    head = [f"class {block.name}(nn.{'Sequential' if template.numbered else 'Module'}):",
            f'    """The spec\'s block `{block.title}` ({len(block.instances)} in the model)."""', ""]
    init = pf.lines(pf.Seq("def __init__", ("self", *params)), "    ", suffix=":")
    body = _children(block.children, block.optional, template.numbered, " " * 8)
    for path, value in block.tensors.items():
        body.extend(_tensor(units, join(template.path, path), template.path, value))
    body.extend(_path_inits(units, template.path, inits, " " * 8))
    inplace = units.inplace - touching
    return head + init + body + _forward(units, template.path, False, inplace, block.optional)


def chain_helper() -> list[str]:
    return ["class Chain(nn.ModuleDict):", '    """Named layers run in turn (an nn.Sequential whose children have names)."""', "",
            "    def forward(self, x):", "        for layer in self.values():", "            x = layer(x)",
            "        return x"]


def dense_helper(code: str) -> list[str]:
    return ["class DenseBlock(nn.ModuleDict):",
            '    """Layers whose outputs are each concatenated to their input."""', "",
            "    def forward(self, x):", "        for layer in self.values():",
            f"            x = {code}", "        return x"]


def _access(units: Units, path: str, frame: str = "") -> str:
    """`self.layer1[0].conv1`: the expression for a module of the emitted model (of the block
    class whose instance is at `frame`)."""
    expr, parent = "self", frame
    for part in relative(path, frame).split("."):
        here = join(parent, part)
        unit = units.units.get(parent)
        if units.tree.numbered(parent):
            expr += f"[{part}]"
        elif attribute(part):
            expr += f".{units.name(here)}"
        elif parent and (unit is None or unit.kind in ("dense", "chain")):
            expr += f"[{pf.literal(part)}]"
        else:
            expr = f"getattr({expr}, {pf.literal(part)})"
        parent = here
    return expr


def _tensor(units: Units, path: str, frame: str, value, indent: str = " " * 8) -> list[str]:
    """`self.layer_scale = nn.Parameter(...)`: a learnable tensor of a block class or the model."""
    parent, _, leaf = path.rpartition(".")
    owner = _access(units, parent, frame) if parent != frame else "self"
    if attribute(leaf):
        return pf.lines(render(value), indent, f"{owner}.{leaf} = ")
    return pf.lines(pf.Seq(f"{owner}.register_parameter", (pf.literal(leaf), render(value))), indent)


def _renamed(units: Units, path: str) -> str:
    """A module path of the built model in the emitted one (readable names for renamed layers)."""
    parts, parent = [], ""
    for part in path.split("."):
        parent = join(parent, part)
        parts.append(units.name(parent))
    return ".".join(parts)


def _init_call(target: str, scheme: str, args: dict):
    return pf.Seq(f"nn.init.{scheme}_", (target, *((f"{a}=", pf.literal(v)) for a, v in args.items())))


def _block_inits(graph, units: Units, classes: Classes) -> tuple[dict[str, list], list]:
    """The spec's path rules of `init:` that hold alike for every instance of a block class, by class
    name (path relative to the instance, tensor, scheme, args), for its `__init__`; and the others, for
    the model's. Rules on layers that a kind rule also covers stay in the model's, after its loop."""
    _, paths = init_plan(graph)
    owner = {inst.path: block for block in classes.classes for inst in block.instances}
    kinds = {key for key in graph.init if key in REGISTRY}
    by_module = {n.module: n for n in graph.nodes if n.module is not None}
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for path, tensor, scheme, args in paths:
        node = by_module[path]
        frame = units.frame_of(node)
        if frame in owner and node.op not in kinds:  # all rules on a layer move, or none
            found[owner[frame].name][frame].append((relative(path, frame), tensor, scheme, args))
    moved = {}
    for block in classes.classes:
        rules = [found[block.name].get(inst.path, []) for inst in block.instances] if block.name in found else []
        if rules and all(r == rules[0] for r in rules):
            moved[block.name] = rules[0]
    inside = {(join(inst.path, rel), tensor) for block in classes.classes if block.name in moved
              for inst in block.instances for rel, tensor, _, _ in moved[block.name]}
    return moved, [rule for rule in paths if (rule[0], rule[1]) not in inside]


def _init_lines(graph, units: Units, paths: list, indent: str) -> list[str]:
    """The spec's `init:`: one loop over self.modules(), kinds with the same rules sharing a branch,
    then the path rules `paths`."""
    loops, _ = init_plan(graph)
    merged: list[tuple[list, list[str]]] = []
    for classes, rules in loops:
        entry = next((m for m in merged if m[0] == rules), None)
        if entry is None:
            merged.append(entry := (rules, []))
        entry[1].extend(c.strip() for c in classes.strip("()").split(","))
    inside = composites(graph, loops)
    out = [*skip_lines(inside, indent), f"{indent}for module in self.modules():",
           *skip_test(inside, indent + "    ")] if loops else []
    for k, (rules, classes) in enumerate(merged):
        kinds = classes[0] if len(classes) == 1 else f"({', '.join(classes)})"
        test = f"{'elif' if k else 'if'} isinstance(module, {kinds})"
        if len(rules) == 1:  # one rule: one condition (ruff's SIM102)
            tensor, scheme, args = rules[0]
            out.append(f"{indent}    {test} and {tensor_access('module', tensor)} is not None:")
            out.extend(pf.lines(_init_call(tensor_access("module", tensor), scheme, args), indent + "        "))
            continue
        out.append(f"{indent}    {test}:")
        for tensor, scheme, args in rules:
            out.append(f"{indent}        if {tensor_access('module', tensor)} is not None:")
            out.extend(pf.lines(_init_call(tensor_access("module", tensor), scheme, args), indent + "            "))
    for path, tensor, scheme, args in paths:
        out.extend(pf.lines(_init_call(tensor_access(_access(units, path), tensor), scheme, args), indent))
    return out


def _path_inits(units: Units, frame: str, rules: list, indent: str) -> list[str]:
    """`nn.init.xavier_uniform_(self.mlp[0].weight)`: path rules inside a block class's instance at `frame`."""
    return [line for rel, tensor, scheme, args in rules
            for line in pf.lines(_init_call(f"{_access(units, join(frame, rel), frame)}.{tensor}", scheme, args),
                                 indent)]


def structured_source(graph, copied: frozenset[str] = frozenset()) -> tuple[str, set[str]]:
    """The classes of a graph's blocks and its model class, and the imports their layers need;
    `copied`: the names that the archc.nn definitions copied into the file take."""
    units = Units(graph)
    name = model_name(graph, copied)
    imported = {source_name(node_call(graph, n, set()).target)[0] for n in graph.nodes
                if n.module is not None and not n.spec.tensor}
    classes = Classes(units, {name, "Chain", "DenseBlock", *copied, *(n for n in imported if "." not in n)})
    kinds = {u.kind for u in units.units.values()}
    parts = [chain_helper()] if "chain" in kinds else []
    parts += [dense_helper(units.dense_code)] if "dense" in kinds else []
    inits, paths = _block_inits(graph, units, classes)
    parts.extend(block_source(block, units, inits.get(block.name, [])) for block in classes.classes)
    numbered = units.tree.numbered("")
    children = {units.name(c): classes.ctor(c) for c in units.tree.children[""]}
    model = [f"class {name}(nn.{'Sequential' if numbered else 'Module'}):", "    def __init__(self):",
             *_children(children, {}, numbered, " " * 8),
             *(line for n in graph.nodes if n.spec.tensor and units.frame_of(n) == ""
               for line in _tensor(units, n.module, "", tensor_ctor(graph, n))),
             *_init_lines(graph, units, paths, " " * 8),
             *(pf.with_comment(f"        self.get_submodule({pf.literal(_renamed(units, p))}).requires_grad_(False)",
                               "freeze") for p in graph.frozen),
             *_forward(units, "", True, units.inplace)]
    parts.append(model)
    return "\n\n\n".join("\n".join(p) for p in parts) + "\n", classes.imports
