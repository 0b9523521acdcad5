"""archc: a declarative architecture compiler for PyTorch.

The static API (`load`, `analyze`, `validate`) never imports torch.
"""

from __future__ import annotations

from .errors import Diagnostic, SpecError
from .ir import Graph
from .pipeline import analyze
from .pipeline import load as load_spec

__all__ = ["analyze", "load_spec", "validate", "export_onnx", "Graph", "SpecError", "Diagnostic"]
__version__ = "0.1.0"


def validate(source, **params) -> Graph:
    """Validate a spec (path, YAML text or dict); returns its IR or raises SpecError."""
    return analyze(source, params)


def export_onnx(source, path=None, **options):
    """Build a spec and write a verified ONNX file (imports torch); see `archc.onnx_export.export_onnx`."""
    from .onnx_export import export_onnx as export

    return export(source, path, **options)
