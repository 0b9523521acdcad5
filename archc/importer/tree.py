"""A module tree as spec items: op leaves, blocks for repeated structures, groups for the rest.

Two passes: the first gives every module a structural key (its class and its level's items with
attribute values left out); modules of the same class whose keys recur become one block, with
params where the instances' values differ (`blocks.template`). The second writes the items.
"""

from __future__ import annotations

import json
import re

import torch

from ..errors import error
from .blocks import Block, template
from .level import Level
from .opmap import inverses, match

CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().strip("_")


class Tree:
    def __init__(self, root, shapes: dict):
        self.root, self.shapes, self.table = root, shapes, inverses()
        self.ops: dict[int, tuple] = {}
        self.keys: dict[int, str] = {}
        self.groups: dict[str, list] = {}
        self.levels: dict[int, Level] = {}
        self.blocks: dict[str, Block] = {}
        self.outputs: list = []
        self.dense_steps: set[int] = set()

    # -- pass 1: keys ---------------------------------------------------------------------------
    def op_of(self, module, path: str):
        if id(module) not in self.ops:
            shape = self.shapes.get(id(module))
            found = match(module, shape, self.table) if shape is not None else None
            if found is None and not list(module.children()):
                raise unsupported(module, path)
            self.ops[id(module)] = found
        return self.ops[id(module)]

    def key(self, module, path: str, dense_step: bool = False) -> str:
        if dense_step:
            self.dense_steps.add(id(module))
        if id(module) not in self.keys:
            level = self.level(module, path, dense_step, self._key_child)
            body = json.dumps(level.items(), sort_keys=True, default=str)
            self.keys[id(module)] = f"{type(module).__module__}.{type(module).__qualname__}:{body}"
            self.groups.setdefault(self.keys[id(module)], []).append((module, path))
        return self.keys[id(module)]

    def _key_child(self, path):
        def child(name, module, layer, dense_step=False):
            where = f"{path}.{name}" if path else name
            found = self.op_of(module, where)
            if found:
                return {found[0]: {"name": layer}}
            return {"$" + self.key(module, where, dense_step): {"name": layer}}
        return child

    def level(self, module, path, dense_step, child_factory) -> Level:
        if module is not self.root and not dense_step and self.shapes.get(id(module)) is None:
            raise error(f"'{path}' ({type(module).__name__}) is never called in the forward; archc cannot express it",
                        hint="remove the unused module, or import a model built without it")
        return Level(module, path, child_factory(path), dense_step)

    # -- pass 2: items --------------------------------------------------------------------------
    def decide_blocks(self) -> None:
        names: dict[str, int] = {}
        for key, members in self.groups.items():
            module = members[0][0]
            if len(members) < 2 or type(module) in CONTAINERS:
                continue
            base = snake(type(module).__name__)
            names[base] = names.get(base, 0) + 1
            name = base if names[base] == 1 else f"{base}_{names[base]}"
            self.blocks[key] = Block(name)
        for key, block in self.blocks.items():
            bodies = [self.body(module, path) for module, path in self.groups[key]]
            block.layers, block.params, block.values = template(bodies, {b.name for b in self.blocks.values()})
            block.instances = {id(module): values for (module, _), values in zip(self.groups[key], block.values)}

    def body(self, module, path: str) -> list:
        level = self.level(module, path, id(module) in self.dense_steps, self._item_child)
        items = level.items()
        if module is self.root:
            self.outputs = [str(n.target) if n.op == "call_module" else n.name for n in level.outputs]
        return items

    def _item_child(self, path):
        def child(name, module, layer, dense_step=False):
            where = f"{path}.{name}" if path else name
            found = self.op_of(module, where)
            named = {"name": layer} if layer is not None else {}
            if found:
                return {found[0]: {**named, **found[1]}}
            key = self.key(module, where, dense_step)
            if key in self.blocks:
                block = self.blocks[key]
                return {block.name: {**named, **block.instances[id(module)]}}
            items = self.body(module, where)
            if len(items) == 1 and "dense" in items[0] and "name" not in items[0]["dense"]:
                return {"dense": {**named, **items[0]["dense"]}}
            if isinstance(module, torch.nn.Sequential) and all(n.isdigit() for n, _ in module.named_children()):
                items = [_unnumbered(item, i) for i, item in enumerate(items)]
            return {"group": {**named, "layers": items}}
        return child


def _unnumbered(item: dict, index: int) -> dict:
    (head, attrs), = item.items()
    if isinstance(attrs, dict) and attrs.get("name") == str(index):
        attrs = {k: v for k, v in attrs.items() if k != "name"}
        return {head: attrs} if attrs else head
    return item


def unsupported(module, path: str):
    cls = type(module)
    return error(f"archc has no op for {cls.__module__}.{cls.__qualname__} at module path '{path}'",
                 hint="write the op as a plugin (docs/ops.md, examples/plugins/) and import with `archc --plugin FILE import ...`")
