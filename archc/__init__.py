"""archc: a declarative architecture compiler for PyTorch.

The static API (`load_spec`, `analyze`, `validate`, `memory`) never imports torch; `build`, `save`, `load`
and `emit_python` import it when called; `graph` imports only the graphviz package, when called.
"""

from __future__ import annotations

from .errors import Diagnostic, SpecError
from .ir import Graph
from .limits import MAX_PARAMS
from .pipeline import Source, analyze
from .pipeline import load as load_spec
from .plugins import load_plugins

__all__ = ["analyze", "load_spec", "validate", "memory", "build", "save", "load", "emit_python", "export_onnx", "graph",
           "Graph", "SpecError", "Diagnostic", "Source", "load_plugins", "fsdp_units"]
__version__ = "0.1.0"


def validate(source, *, plugins=(), **params) -> Graph:
    """Validate a spec (path, dict or `Source.text(yaml)`); returns its IR or raises SpecError."""
    return analyze(source, params, plugins=plugins)


def memory(source, *, batch=1, dtype="fp32", optimizer="adamw", mode="train", checkpoint=(), device="cuda",
           world_size=1, shard="none", input_shape=None, plugins=(), **params):
    """What training (or inference) of a spec costs in memory, per layer (no torch); params like `--set`.

    Returns an `archc.footprint.MemoryReport`: `.totals()` (the JSON figures), `.to_json(depth)`,
    `.max_batch(budget_bytes)`; see docs/memory.md. Figures are per rank of `world_size` under `shard`
    (none, ddp, fsdp), `batch` per rank. Bad options raise ValueError.
    """
    from .footprint import Settings, memory_of

    graph = analyze(source, params, input_shape, plugins=plugins)
    return memory_of(graph, Settings(batch, dtype, optimizer, mode, device, tuple(checkpoint), world_size, shard))


def build(source, *, input_shape=None, seed=None, max_params=MAX_PARAMS, plugins=(), **params):
    """Build the torch.nn.Module a spec describes (imports torch); params override like `--set`.

    `seed` makes the initial weights reproducible; `plugins`: user-op files or entry-point names to
    load first (archc.plugins); see `archc.emit.build.build`.
    """
    from .emit.build import build as build_model

    return build_model(source, input_shape=input_shape, seed=seed, max_params=max_params, plugins=plugins, **params)


def save(model, path) -> None:
    """Save a built model (state_dict + resolved spec) atomically; see `archc.saving.save`."""
    from .saving import save as save_model

    save_model(model, path)


def load(path, *, plugins=()):
    """Rebuild a model saved by `save` / `archc build -o` and load its weights."""
    from .saving import load as load_model

    load_plugins(plugins)
    return load_model(path)


def emit_python(source, *, input_shape=None, plugins=(), flat: bool = False, **params) -> str:
    """Standalone Python source (imports only torch, and the plugins it uses) defining the spec's nn.Module:
    one class per block of the spec, or with `flat=True` one class with every layer unrolled."""
    from .emit.python_source import python_source

    return python_source(source, input_shape=input_shape, plugins=plugins, flat=flat, **params)


def export_onnx(source, path=None, **options):
    """Build a spec and write a verified ONNX file (imports torch); see `archc.onnx_export.export_onnx`."""
    from .onnx_export import export_onnx as export

    return export(source, path, **options)


def graph(source, *, depth=None, direction="TB", input_shape=None, plugins=(), **params):
    """The spec's diagram as a `graphviz.Digraph` (no torch); `depth` collapses scopes nested that deep.

    Render it with `.pipe(format="svg")` or `.render(...)` (both need Graphviz's `dot`); `.source` is DOT.
    """
    from .emit.graphviz import digraph

    return digraph(analyze(source, params, input_shape, plugins=plugins), depth=depth, direction=direction)


def fsdp_units(model):
    """FSDP2 units of a built model, one per block scope of its spec; see `archc.distributed.fsdp_units`."""
    from .distributed import fsdp_units as units

    return units(model)
