"""Runtime check of the static shapes: a forward pass on the meta device (no memory, no compute).

Every layer's output shape, seen by a forward hook, must equal the shape the
IR inferred; so must the model's outputs. A difference is a bug in archc.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ir import Graph
from ..ops import fmt_shape


@dataclass(frozen=True)
class Mismatch:
    layer: str
    static: tuple
    runtime: tuple

    def __str__(self) -> str:
        return f"layer '{self.layer}': static shape {fmt_shape(self.static)}, runtime {fmt_shape(self.runtime)}"


def check_shapes(graph: Graph, model: torch.nn.Module, batch: int = 2) -> tuple[int, list[Mismatch]]:
    """Run `model` (built from `graph`, best on the meta device) in training mode, so train-only
    layers run too; returns (layers checked, mismatches)."""
    seen: dict[str, tuple] = {}
    handles = []
    for node in graph.nodes:
        if node.module is not None and not node.spec.tensor:
            def record(module, args, output, name=node.module):
                seen[name] = tuple(output.shape[1:])

            handles.append(model.get_submodule(node.module).register_forward_hook(record))
    device = next((p.device for p in model.parameters()), torch.device("meta"))
    was_training = model.training
    try:
        model.train()
        with torch.no_grad():
            result = model(torch.empty((batch, *graph.input_shape), device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    results = result if isinstance(result, tuple) else (result,)
    mismatches = [Mismatch(node.module, node.shape, seen[node.module]) for node in graph.nodes
                  if node.module in seen and seen[node.module] != node.shape]
    for output, value in zip(graph.outputs, results):
        if tuple(value.shape[1:]) != graph.shape_of(output.node):
            mismatches.append(Mismatch(f"output {output.name}", graph.shape_of(output.node), tuple(value.shape[1:])))
    if len(results) != len(graph.outputs):
        mismatches.append(Mismatch(f"outputs: {len(graph.outputs)} declared", (len(graph.outputs),), (len(results),)))
    return len(seen), mismatches
