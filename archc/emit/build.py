"""`archc.build`: a spec (path, YAML text or dict) to an initialised torch.nn.Module."""

from __future__ import annotations

from .. import limits
from ..ir import Graph
from ..pipeline import analyze_doc, load


def plain(value):
    """A loaded spec as plain dicts, lists and scalars (positions dropped)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def build(source, *, input_shape=None, seed: int | None = None, max_params: int = limits.MAX_PARAMS, **params):
    """Build the nn.Module a spec describes; `params` override the spec's params like `--set`.

    `seed` makes the initial weights reproducible without touching the caller's random state.
    """
    doc = load(source)
    graph = analyze_doc(doc, params, input_shape, max_params)
    spec = plain(doc)
    return build_from_graph(graph, spec, seed)


def build_from_graph(graph: Graph, spec: dict, seed: int | None = None, device: str | None = None):
    """The module of an analysed graph; `spec` (plain) supplies `init:` and is kept for saving.

    `device="meta"` gives the structure only (no memory, no initialisation).
    """
    import torch

    from .torch_module import build_module

    if seed is None:
        model = build_module(graph, spec.get("init"), device)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_module(graph, spec.get("init"), device)
    model.archc_spec = {"spec": spec, "params": plain(graph.params), "input_shape": list(graph.input_shape)}
    return model
