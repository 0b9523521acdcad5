"""archc: a declarative architecture compiler for PyTorch.

The static API (`load_spec`, `analyze`, `validate`) never imports torch; `build`, `save`, `load`
and `emit_python` import it when called; `graph` imports only the graphviz package, when called.
"""

from __future__ import annotations

from .errors import Diagnostic, SpecError
from .ir import Graph
from .limits import MAX_PARAMS
from .pipeline import analyze
from .pipeline import load as load_spec

__all__ = ["analyze", "load_spec", "validate", "build", "save", "load", "emit_python", "export_onnx", "graph", "Graph",
           "SpecError", "Diagnostic"]
__version__ = "0.1.0"


def validate(source, **params) -> Graph:
    """Validate a spec (path, YAML text or dict); returns its IR or raises SpecError."""
    return analyze(source, params)


def build(source, *, input_shape=None, seed=None, max_params=MAX_PARAMS, **params):
    """Build the torch.nn.Module a spec describes (imports torch); params override like `--set`.

    `seed` makes the initial weights reproducible; see `archc.emit.build.build`.
    """
    from .emit.build import build as build_model

    return build_model(source, input_shape=input_shape, seed=seed, max_params=max_params, **params)


def save(model, path) -> None:
    """Save a built model (state_dict + resolved spec) atomically; see `archc.saving.save`."""
    from .saving import save as save_model

    save_model(model, path)


def load(path):
    """Rebuild a model saved by `save` / `archc build -o` and load its weights."""
    from .saving import load as load_model

    return load_model(path)


def emit_python(source, *, input_shape=None, **params) -> str:
    """Standalone Python source (imports only torch) defining the spec's nn.Module class."""
    from .emit.python_source import python_source

    return python_source(source, input_shape=input_shape, **params)


def export_onnx(source, path=None, **options):
    """Build a spec and write a verified ONNX file (imports torch); see `archc.onnx_export.export_onnx`."""
    from .onnx_export import export_onnx as export

    return export(source, path, **options)


def graph(source, *, depth=None, direction="TB", input_shape=None, **params):
    """The spec's diagram as a `graphviz.Digraph` (no torch); `depth` collapses scopes nested that deep.

    Render it with `.pipe(format="svg")` or `.render(...)` (both need Graphviz's `dot`); `.source` is DOT.
    """
    from .emit.graphviz import digraph

    return digraph(analyze(source, params, input_shape), depth=depth, direction=direction)
