"""`archc import`: a torch module (torchvision, a user's factory) or an ONNX graph as an archc spec."""

from __future__ import annotations

from .blocks import flat
from .tree import Tree
from .write import as_mapping, loops


def spec_of(model, name: str, input_shape) -> dict:
    """The spec (a plain dict) of a torch module traced level by level with torch.fx."""
    from .source import input_shapes

    was_training = model.training
    model.train()  # training mode: auxiliary heads run (and become train-only outputs)
    try:
        return _spec(model, name, input_shape, input_shapes(model, input_shape))
    finally:
        model.train(was_training)


def _spec(model, name, input_shape, shapes) -> dict:
    tree = Tree(model, shapes)
    tree.key(model, "")
    tree.decide_blocks()
    body = tree.body(model, "")
    names = {b.name for b in tree.blocks.values()}
    spec: dict = {"name": name, "input": list(input_shape)}
    if tree.blocks:
        spec["blocks"] = {b.name: {"params": b.params, "layers": loops(b.layers, names)} if b.params
                          else {"layers": loops(b.layers, names)} for b in tree.blocks.values()}
    spec["layers"] = as_mapping(loops(body, names))
    if len(tree.outputs) > 1:
        main, *sides = tree.outputs
        spec["outputs"] = [main] + [{"from": s, "train_only": True} for s in sides]
    return spec


__all__ = ["flat", "spec_of"]
