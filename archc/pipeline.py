"""The static pipeline, no torch: load -> schema -> expand + infer -> IR."""

from __future__ import annotations

import os
from pathlib import Path

from . import limits
from .errors import Span, error
from .expand import expand
from .ir import Graph
from .loader import PList, PMap, load_spec, parse_yaml, resolve_references
from .params import resolve_params
from .schema import validate as validate_structure

SpecSource = str | os.PathLike | dict


def positioned(value, file: str = "<dict>"):
    """Turn plain dicts and lists into positioned ones (without real positions)."""
    if isinstance(value, dict):
        out = PMap({k: positioned(v, file) for k, v in value.items()}, span=Span(file, 1, 1))
        return out
    if isinstance(value, (list, tuple)):
        out = PList([positioned(v, file) for v in value], span=Span(file, 1, 1))
        return out
    return value


def load(source: SpecSource) -> PMap:
    """Load a spec from a path, YAML text, or a dict, with `extends:`/`imports:` resolved."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source):
        return load_spec(str(source))
    if isinstance(source, dict):
        doc = positioned(source)
    else:
        doc = parse_yaml(source, "<string>")
        if not isinstance(doc, PMap):
            raise error("a spec must be a mapping", Span("<string>", 1, 1))
    return resolve_references(doc, os.path.join(os.getcwd(), "<string>"))  # files named relative to here


def parse_input(text: str) -> tuple[int, ...]:
    """'3x224x224' or '3,224,224' -> (3, 224, 224)."""
    parts = text.replace(",", "x").lower().split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"'{text}' is not a shape like 3x224x224") from None
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ValueError(f"'{text}' is not a shape like 3x224x224 (1 to 3 positive sizes)")
    return shape


def analyze(source: SpecSource, params: dict | None = None, input_shape=None,
            max_params: int = limits.MAX_PARAMS) -> Graph:
    """Validate a spec and infer every shape; raises SpecError with every problem found."""
    return analyze_doc(load(source), params, input_shape, max_params)


def analyze_doc(doc: PMap, params: dict | None = None, input_shape=None,
                max_params: int = limits.MAX_PARAMS) -> Graph:
    """`analyze` for a spec already loaded with `load` (callers that also need the document)."""
    validate_structure(doc)
    file = doc.span.file if doc.span else None
    for key in ("input", "layers"):
        if key not in doc:
            raise error(f"the spec has no '{key}'", doc.span, "", f"add '{key}:' (or 'extends:' a spec that has it)")
    resolved = resolve_params(doc.get("params"), params or {})
    shape = tuple(input_shape) if input_shape is not None else tuple(doc["input"])
    return expand(doc, resolved, shape, file, max_params)


def spec_name(source: SpecSource) -> str:
    if isinstance(source, (str, os.PathLike)) and "\n" not in str(source):
        return Path(source).stem
    return "model"
