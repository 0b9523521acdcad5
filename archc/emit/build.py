"""`archc.build`: a spec (path, dict or archc.Source) to an initialised torch.nn.Module."""

from __future__ import annotations

from .. import freeze, limits
from ..ir import Graph
from ..pipeline import compile_spec, plain


def build(source, *, input_shape=None, seed: int | None = None, max_params: int = limits.MAX_PARAMS, plugins=(),
          **params):
    """Build the nn.Module a spec describes; `params` override the spec's params like `--set`.

    `seed` makes the initial weights reproducible without touching the caller's random state.
    """
    compiled = compile_spec(source, params, input_shape, max_params, plugins)
    return build_from_graph(compiled.graph, compiled.spec, seed)


def build_from_graph(graph: Graph, spec: dict, seed: int | None = None, device: str | None = None):
    """The module of an analysed graph (init rules travel in its nodes); `spec` (plain) is kept for saving.

    `device="meta"` gives the structure only (no memory, no initialisation).
    """
    import torch

    from .torch_module import build_module

    if seed is None:
        model = build_module(graph, device)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_module(graph, device)
    freeze.apply(model, graph.frozen)
    model.archc_spec = {"spec": spec, "params": plain(graph.params), "input_shape": list(graph.input_shape)}
    return model
