"""The compile driver, no torch: load -> schema -> expand + infer -> IR. Every command and API function uses it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import freeze, limits, zoo
from .errors import Span, error
from .expand import expand
from .init import check as check_init
from .ir import Graph
from .loader import PList, PMap, load_spec, parse_yaml, resolve_references
from .params import resolve_params
from .plugins import check_required, load_plugins
from .schema import validate as validate_structure


@dataclass(frozen=True)
class Source:
    """Where a spec comes from, said explicitly: a file, YAML text, or a mapping.

    The API also takes a dict, an `os.PathLike` (a file) and a `str`: a str is a file path unless it
    holds a line break, which no path archc reads can (then it is YAML text). One-line YAML text is a
    valid file name, so it must be given as `Source.text(...)`.
    """

    kind: str  # "file", "text" or "mapping"
    value: object
    origin: str  # what errors and generated headers call it

    @classmethod
    def file(cls, path: str | os.PathLike) -> "Source":
        return cls("file", os.fspath(path), os.fspath(path))

    @classmethod
    def text(cls, yaml_text: str, origin: str = "<string>") -> "Source":
        return cls("text", yaml_text, origin)

    @classmethod
    def mapping(cls, spec: dict, origin: str = "<dict>") -> "Source":
        return cls("mapping", spec, origin)

    @property
    def stem(self) -> str:
        """The spec file's own name without its suffix ('model' for text and mappings)."""
        return Path(self.origin).stem if self.kind == "file" else "model"


SpecSource = Source | str | os.PathLike | dict


def as_source(source: SpecSource) -> Source:
    if isinstance(source, Source):
        return source
    if isinstance(source, dict):
        return Source.mapping(source)
    if isinstance(source, os.PathLike):
        return Source.file(source)
    if isinstance(source, str):
        return Source.text(source) if "\n" in source else Source.file(source)
    raise TypeError(f"a spec source is a path, a dict or an archc.Source, not {type(source).__name__}")


def positioned(value, file: str = "<dict>"):
    """Turn plain dicts and lists into positioned ones (without real positions)."""
    if isinstance(value, dict):
        return PMap({k: positioned(v, file) for k, v in value.items()}, span=Span(file, 1, 1))
    if isinstance(value, (list, tuple)):
        return PList([positioned(v, file) for v in value], span=Span(file, 1, 1))
    return value


def plain(value):
    """A loaded spec as plain dicts, lists and scalars (positions dropped)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def load(source: SpecSource) -> PMap:
    """Load a spec with `extends:`/`imports:` resolved (files named in text or mappings: relative to here)."""
    source = as_source(source)
    if source.kind == "file":
        return load_spec(zoo.resolve(source.value))
    if source.kind == "mapping":
        doc = positioned(source.value, source.origin)
    else:
        doc = parse_yaml(source.value, source.origin)
        if not isinstance(doc, PMap):
            raise error("a spec must be a mapping", Span(source.origin, 1, 1))
    return resolve_references(doc, os.path.join(os.getcwd(), source.origin))


@dataclass
class Compiled:
    """A compiled spec: the loaded document, its IR, and the plain spec that rebuilds it."""

    source: Source
    doc: PMap
    graph: Graph

    @property
    def spec(self) -> dict:
        return plain(self.doc)


def compile_spec(source: SpecSource, params: dict | None = None, input_shape=None,
                 max_params: int = limits.MAX_PARAMS, plugins=()) -> Compiled:
    """Validate a spec and infer every shape; raises SpecError with every problem found.

    `plugins`: files or entry-point names of user ops to load first (see archc.plugins).
    """
    load_plugins(plugins)
    source = as_source(source)
    doc = load(source)
    return Compiled(source, doc, analyze_doc(doc, params, input_shape, max_params))


def analyze_doc(doc: PMap, params: dict | None = None, input_shape=None,
                max_params: int = limits.MAX_PARAMS) -> Graph:
    """The IR of a spec already loaded with `load`."""
    validate_structure(doc)
    check_required(doc)
    file = doc.span.file if doc.span else None
    for key in ("input", "layers"):
        if key not in doc:
            raise error(f"the spec has no '{key}'", doc.span, "", f"add '{key}:' (or 'extends:' a spec that has it)")
    resolved = resolve_params(doc.get("params"), params or {})
    shape = tuple(input_shape) if input_shape is not None else tuple(doc["input"])
    graph = expand(doc, resolved, shape, file, max_params)
    graph.frozen = freeze.check(doc, graph)
    section = doc.get("init")
    if section:
        check_init(graph, section, lambda key: section.span_of(key, key_only=True))
        graph.init = plain(section)
    return graph


def analyze(source: SpecSource, params: dict | None = None, input_shape=None,
            max_params: int = limits.MAX_PARAMS, plugins=()) -> Graph:
    """The IR of a spec (see `compile_spec`)."""
    return compile_spec(source, params, input_shape, max_params, plugins).graph


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
