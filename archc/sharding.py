"""What one rank holds under data parallelism: `archc memory --world-size N --shard none|ddp|fsdp`.

- none: a full replica per rank, nothing more.
- ddp: a full replica, and DDP's gradient buckets: the reducer copies every gradient into flat
  buckets it allocates when it wraps the model (`gradient_as_bucket_view=False`, the default), one
  more copy of the gradients however they are split (1 MiB first, then 25 MiB caps).
- fsdp: FSDP2 `fully_shard` per unit as `archc.distributed.apply_fsdp` makes them (`unit_scopes`),
  the rest in the root. Each parameter is split on dim 0 by `torch.chunk` into N pieces padded to
  the first one's ceil(d0 / N) rows; a rank stores that padded piece, its gradient likewise, and its
  optimizer state for the rows it owns (rank 0 owns the most: a whole padded piece). While a unit
  runs its parameters are gathered to N padded pieces (`gathered`, below).

Figures are element counts (`numel`) in the parameters' dtype. Only `param_shapes` imports torch,
and only FSDP over more than one rank needs it (the padding depends on each parameter's dim 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Graph, Node

SHARDS = ("none", "ddp", "fsdp")


def unit_scopes(graph: Graph) -> dict[str, str]:
    """Module path of each layer -> the scope whose FSDP unit it joins.

    That is the outermost block instance holding the layer, or for a layer in no block the innermost
    scope holding it (VGG: features, classifier; MaxViT: a layer's two attentions). Left out, for the
    root to shard: layers in no scope (a top-level stem or head) and learnable tensors held by a
    level itself (ConvNeXt's layer_scale, ViT's class token), as no forward hook of theirs runs.
    """
    found = {}
    for node in graph.nodes:
        if node.module is None or node.spec.tensor:
            continue
        scopes = [path for path in node.scopes if path in graph.scopes]
        blocks = [path for path in scopes if graph.scopes[path].kind == "block"]
        if blocks or scopes:
            found[node.module] = blocks[0] if blocks else scopes[-1]
    return found


@dataclass(frozen=True)
class RankState:
    """Rank 0's share: `params` per node id (padded pieces under FSDP), and what DDP or FSDP adds."""

    params: dict[str, int]
    buckets: int = 0   # DDP: the flat gradient buckets, one element per gradient
    gathered: int = 0  # FSDP: the most all-gathered parameter elements alive at once


def rank_state(graph: Graph, order: list[Node], world_size: int, shard: str) -> RankState:
    """What rank 0 holds; `order`: the nodes a forward runs, in order (for FSDP's gathering)."""
    full = {n.id: n.params for n in graph.nodes if n.params}
    if shard == "ddp":
        return RankState(full, buckets=sum(full.values()))
    if shard == "none":
        return RankState(full)
    piece = full if world_size == 1 else {
        node_id: sum(_rows(shape[0], world_size) * _rest(shape) for shape in shapes)
        for node_id, shapes in param_shapes(graph).items()}
    return RankState(piece, gathered=_gathered(graph, order, {k: v * world_size for k, v in piece.items()},
                                               world_size))


def _rows(length: int, world_size: int) -> int:
    return -(-length // world_size)  # torch.chunk's piece: ceil(d0 / N) rows


def _rest(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape[1:]:
        n *= d
    return n


def _gathered(graph: Graph, order: list[Node], gathered: dict[str, int], world_size: int) -> int:
    """The peak of all-gathered elements: the root's (gathered in the first forward, kept through the
    backward), plus two unit-sized buffers. With N > 1 a unit's all-gather output lives until the next
    unit's is copied out, so the worst moment holds either a unit's output and its own unsharded copy,
    or the previous unit's output (in backward: the current unit) and the next one's; with N = 1
    there is no all-gather, one unit at a time."""
    scope_of = unit_scopes(graph)
    units: dict[str, int] = {}
    for node in order:
        if node.id in gathered and node.module in scope_of:
            units[scope_of[node.module]] = units.get(scope_of[node.module], 0) + gathered[node.id]
    root = sum(n for node_id, n in gathered.items() if graph.by_id[node_id].module not in scope_of)
    sizes = list(units.values())
    if world_size == 1:
        return root + max(sizes, default=0)
    pairs = [size + max(size, before) for size, before in zip(sizes, [root, *sizes])]
    return root + max([root, *pairs])


def param_shapes(graph: Graph) -> dict[str, list[tuple[int, ...]]]:
    """Node id -> the shapes of its parameters, read from the model built on the meta device."""
    from .emit.torch_module import build_module

    by_module = {n.module: n.id for n in graph.nodes if n.params and n.module}
    shapes: dict[str, list[tuple[int, ...]]] = {}
    for name, param in build_module(graph, "meta").named_parameters():
        parts = name.split(".")
        owner = next(by_module[p] for p in (".".join(parts[:i]) for i in range(len(parts), 0, -1)) if p in by_module)
        shapes.setdefault(owner, []).append(tuple(param.shape) or (1,))
    return shapes
