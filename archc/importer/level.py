"""One module level: a module's traced forward over its direct children, as a list of spec items.

A chain becomes a list; a fork that joins again in `+` or `torch.cat` becomes an `add:` / `concat:`
merge whose branches are the paths between (a branch that is one child module takes its name, the
identity is `null`); a branch that never joins (an auxiliary head) is a `side: true` item; a module
whose children each take the list of all earlier outputs (DenseNet's block) is a `dense:` group.
"""

from __future__ import annotations

from torch import fx

from ..errors import error
from .functions import FUNCTIONS, merge_attrs


class _ChildrenAreLeaves(fx.Tracer):
    def is_leaf_module(self, module, qualname):
        return "." not in qualname


def trace(module, path: str) -> fx.Graph:
    try:
        return _ChildrenAreLeaves().trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is the user's model's, reported
        raise error(f"cannot trace {type(module).__name__} at '{path or '<root>'}' with torch.fx: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    hint="archc imports forwards that torch.fx.symbolic_trace can follow (no data-dependent control flow)")


def _descendants(graph: fx.Graph) -> dict:
    below: dict = {}
    for node in reversed(list(graph.nodes)):
        seen = set()
        for user in node.users:
            seen |= {user} | below[user]
        below[node] = seen
    return below


def _tensor_inputs(node) -> list:
    inputs = []
    for arg in node.args:
        if isinstance(arg, fx.Node):
            inputs.append(arg)
        elif isinstance(arg, (list, tuple)):
            inputs.extend(a for a in arg if isinstance(a, fx.Node))
    return inputs


class Level:
    """Translates one traced module; `child(name, module, layer_name)` gives the item for a child call."""

    def __init__(self, module, path: str, child, dense_step: bool = False):
        self.module, self.path, self.child, self.dense_step = module, path, child, dense_step
        self.graph = trace(module, path)
        self.below = _descendants(self.graph)
        self.used: set[str] = set()
        self.outputs: list = []

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def items(self) -> list:
        nodes = list(self.graph.nodes)
        inputs = [n for n in nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise error(f"{type(self.module).__name__} at '{self.path or '<root>'}' takes {len(inputs)} inputs; "
                        "archc imports modules with one input")
        output = next(n for n in nodes if n.op == "output")
        result = output.args[0]
        if isinstance(result, fx.Node) and result.op == "call_function" and isinstance(result.target, type) \
                and issubclass(result.target, tuple):
            result = list(result.args)  # a named tuple of outputs (GoogLeNet in training)
        if isinstance(result, (list, tuple)):
            main, *sides = result
            self.outputs = [main, *sides]
        else:
            main = result
        if self._is_dense(nodes, inputs[0]):
            return self._dense(nodes, inputs[0], main)
        return self.walk(inputs[0], main, last=True)

    # -- chains, merges and side branches -------------------------------------------------------
    def walk(self, value, end, last: bool = False) -> list:
        """Items from `value` (exclusive) to `end` (inclusive when `last`, else exclusive)."""
        items = []
        while value is not end:
            users = [u for u in value.users if u.op != "output"]
            main = [u for u in users if u is end or end in self.below[u]]
            for side in (u for u in users if u not in main):
                items.extend(self._side(side))
            if len(main) == 1 and len(_tensor_inputs(main[0])) == 1:
                node = main[0]
                if node is end and not last:
                    break
                items.extend(self.item(node))
                value = node
                continue
            if not main:
                raise error(f"the forward of '{self.path or '<root>'}' has a value that leads nowhere")
            join = min((n for n in self.below[main[0]] | {main[0]}
                        if all(n is u or n in self.below[u] for u in main)), key=lambda n: self._order(n))
            if join is end and not last:
                break
            items.append(self.merge(value, join, main))
            value = join
        return items

    def _order(self, node) -> int:
        return list(self.graph.nodes).index(node)

    def merge(self, value, join, main) -> dict:
        op = self._function(join)[0]
        if op not in ("add", "concat"):
            raise error(f"'{self.path or '<root>'}' joins branches with {join.target}, which archc cannot express")
        branches, unnamed, shortcuts = {}, 0, 0
        for source in _tensor_inputs(join):
            if source is value:
                used = getattr(type(self.module).forward, "__code__", None)
                empty = [n for n, m in [*self.module._modules.items(), *vars(self.module).items()]
                         if m is None and used and n in used.co_names]
                if len(empty) == 1 and not shortcuts:
                    # the child slot the source leaves empty (torchvision's `downsample = None`): an empty
                    # level, numbered like an `if` that expands to nothing in a hand-written spec
                    branches[empty[0]] = [{"group": []}]
                else:
                    branches[f"_shortcut{shortcuts or ''}"] = None
                shortcuts += 1
                continue
            start = next(u for u in main if u is source or source in self.below[u])
            items = self.item(start) + self.walk(start, join)
            if len(items) == 1 and start.op == "call_module" and start is source:
                (item,) = items
                (head, attrs), = item.items()
                name = attrs.pop("name", None) if isinstance(attrs, dict) else None
                if name and head == "group":
                    branches[name] = attrs["layers"]
                elif name:
                    branches[name] = {head: attrs} if attrs else head
                    continue
                else:
                    branches[f"_main{unnamed or ''}"] = items
                    unnamed += 1
                continue
            branches[f"_main{unnamed or ''}"] = items
            unnamed += 1
        return {op: {**merge_attrs(op, join.args, join.kwargs), **branches}}

    def _side(self, node) -> list:
        items = self.item(node)
        if node.users and not all(u.op == "output" or (u.op == "call_function" and isinstance(u.target, type))
                                  for u in node.users):
            raise error(f"'{self.where(str(node.target))}' starts a branch that never rejoins; archc imports only "
                        "single-module side branches (auxiliary heads)")
        (head, attrs), = items[0].items()
        attrs = dict(attrs) if isinstance(attrs, dict) else {}
        attrs["side"] = True
        return [{head: attrs}]

    # -- single nodes ---------------------------------------------------------------------------
    def item(self, node) -> list:
        if node.op == "call_module":
            name = str(node.target)
            first = name not in self.used
            self.used.add(name)
            child = self.module.get_submodule(name)
            if not first and any(True for _ in child.parameters()):
                raise error(f"'{self.where(name)}' is called twice and shares its weights, which archc cannot express")
            return [self.child(name, child, name if first else None)]
        if node.op == "call_function":
            op, layer, read = self._function(node)
            if self.dense_step and op == "concat" and isinstance(node.args[0], fx.Node):
                return []  # a dense step concatenates its input list itself; archc's dense does that
            if read is None:
                raise error(f"'{self.path or '<root>'}' uses {op} on one value")
            attrs = read(node.args, node.kwargs)
            if layer and layer not in self.used and not hasattr(self.module, layer):
                self.used.add(layer)
                attrs = {"name": layer, **attrs}
            return [{op: attrs}]
        raise error(f"'{self.path or '<root>'}' calls {node.op} {node.target}, which archc cannot express",
                    hint="archc imports forwards made of module calls and a few torch functions (+, cat, flatten, relu)")

    def _function(self, node):
        if node.op != "call_function" or node.target not in FUNCTIONS:
            target = getattr(node.target, "__name__", node.target)
            raise error(f"'{self.path or '<root>'}' calls {node.op} '{target}', which archc has no op for",
                        hint="write the op as a plugin (docs/ops.md) or rewrite the forward with modules")
        return FUNCTIONS[node.target]

    # -- dense ----------------------------------------------------------------------------------
    def _is_dense(self, nodes, value) -> bool:
        calls = [n for n in nodes if n.op == "call_module"]
        return bool(calls) and all(len(n.args) == 1 and isinstance(n.args[0], (list, tuple)) and n.args[0]
                                   and n.args[0][0] is value for n in calls)

    def _dense(self, nodes, value, main) -> list:
        outputs = [value]
        layers = []
        for node in (n for n in nodes if n.op == "call_module"):
            if list(node.args[0]) != outputs:
                raise error(f"'{self.where(str(node.target))}' does not take all earlier outputs; not a dense block")
            layers.append(self.child(str(node.target), self.module.get_submodule(str(node.target)), str(node.target),
                                     dense_step=True))
            outputs.append(node)
        if not (main.op == "call_function" and main.target in FUNCTIONS and list(main.args[0]) == outputs):
            raise error(f"'{self.path or '<root>'}' does not return all its steps concatenated; not a dense block")
        return [{"dense": {"layers": layers}}]
