"""Spec files to a positioned mapping, with `extends:` and `imports:` resolved.

Files are read by `archc.files` (regular files only, size checked first) and parsed by
`archc.yaml_parse`. One load reads each file once (cached by real path, so a file imported many
times costs one read) and bounds the total work: files, references, bytes. A problem with a file
that a spec refers to is reported at the referring `extends:`/`imports:` line. Lines of a file are
quoted in diagnostics only if it is a spec: named `.yaml`, `.yml` or `.json`, or a YAML mapping.
The parse of a file (up to 64 KiB) is kept for the process, keyed by its path and whole text (read
every time, so an edited file is parsed again), and handed out as a copy: building a spec again, or
with other params, skips the YAML parser (3-5 ms for a zoo spec and the file it extends).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from . import limits
from .errors import Span, SpecError, error, register_source
from .files import Unreadable, read_limited
from .yaml_parse import CORE_RESOLVERS, PList, PMap, copy_tree, parse_yaml, span_of_node

__all__ = ["PMap", "PList", "CORE_RESOLVERS", "span_of_node", "parse_yaml", "read_text", "load_document",
           "load_spec", "resolve_references"]
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_MAX_PARSED = 32  # files whose parse is kept (the oldest go first), each of at most _MAX_PARSED_CHARS
_MAX_PARSED_CHARS = 64 * 1024
_PARSED: dict[tuple[str, str], PMap] = {}  # (path, text) -> the parsed mapping (never handed out itself)


class Referrer(NamedTuple):
    """Where a spec names another file: `extends: base.yaml` at `span`."""

    field: str
    target: str
    span: Span | None

    def refusal(self, reason: str, hint: str | None = None) -> SpecError:
        verb = "import" if self.field == "imports" else "extend"
        return error(f"cannot {verb} '{self.target}': {reason}", self.span, self.field, hint)


def named_like_a_spec(path: str) -> bool:
    return path.lower().endswith(SPEC_SUFFIXES)


def read_text(path: str, referrer: Referrer | None = None) -> str:
    """Read a spec file as UTF-8, turning every problem into a SpecError (at `referrer`, if given)."""
    try:
        raw = read_limited(path)
    except Unreadable as exc:
        if referrer is not None:
            raise referrer.refusal(exc.reason, f"looked for {path}" if exc.missing else None) from None
        if exc.missing:
            raise error(f"no such file: '{path}'", None, hint="check the path") from None
        raise error(f"cannot read '{path}': {exc.reason}", Span(path, 1, 1),
                    hint="give a spec file, e.g. specs/resnet18.yaml") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problem = f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
        if referrer is not None and not named_like_a_spec(path):
            raise referrer.refusal(f"{problem} at line {line}, column {col}: not a spec file") from None
        raise error(problem, Span(path, line, col), hint="save the spec as UTF-8") from None


def load_document(path: str, referrer: Referrer | None = None) -> PMap:
    """Load one file as a positioned mapping, without resolving extends/imports."""
    return parse_document(path, read_text(path, referrer), referrer)


def parse_document(path: str, text: str, referrer: Referrer | None = None) -> PMap:
    """The text of the file `path` as a positioned mapping (a located SpecError if it is not one)."""
    parsed = _PARSED.get((path, text))
    if parsed is None:
        parsed = _parse_document(path, text, referrer)
        if len(text) > _MAX_PARSED_CHARS:
            return parsed
        if len(_PARSED) >= _MAX_PARSED:
            del _PARSED[next(iter(_PARSED))]
        _PARSED[path, text] = parsed
    else:
        register_source(path, text)  # diagnostics quote the lines of the text just read
    return copy_tree(parsed)


def _parse_document(path: str, text: str, referrer: Referrer | None) -> PMap:
    quote = named_like_a_spec(path)
    try:
        doc = parse_yaml(text, path, quote=quote)
        if doc is None:
            raise error("the spec is empty", Span(path, 1, 1),
                        hint="a spec needs at least 'name', 'input' and 'layers'")
        if not isinstance(doc, PMap):
            kind = "a list" if isinstance(doc, list) else "a single value, not 'key: value' lines"
            raise error(f"a spec must be a mapping, found {kind}", getattr(doc, "span", None) or
                        _first_content(path, text), hint="start with 'name:', 'input:' and 'layers:'")
    except SpecError as exc:
        if quote or referrer is None:
            raise
        first = exc.diagnostics[0]
        where = f" at line {first.span.line}, column {first.span.col}" if first.span else ""
        raise referrer.refusal(f"it is not a spec file ({first.message}{where})") from None
    if not quote:
        register_source(path, text)  # a YAML mapping: a spec, whatever its name
    return doc


def _first_content(path: str, text: str) -> Span:
    """Where the first line that is not blank or a comment starts."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            return Span(path, number, len(line) - len(stripped) + 1, len(stripped.rstrip()))
    return Span(path, 1, 1)


def _check_file_name(name: str, span: Span | None) -> None:
    if "\x00" in name or not name.strip():
        raise error(f"{name!r} is not a file name", span, hint="give the path of a .yaml spec")


def load_spec(path: str) -> PMap:
    """Load a spec with `extends:` and `imports:` resolved; `.sources` lists the real paths read."""
    _check_file_name(path, None)
    loads = _Loads()
    doc = loads.spec(path, None, ())
    doc.sources = tuple(loads.files)
    return doc


def resolve_references(doc: PMap, path: str) -> PMap:
    """Resolve `extends:` and `imports:` of a document read from `path` (relative to its folder)."""
    loads = _Loads()
    doc = loads.resolve(doc, path, ())
    doc.sources = tuple(loads.files)
    return doc


class _Loads:
    """One load: each file read once (by real path), and bounded files, references and bytes."""

    def __init__(self) -> None:
        self.done: dict[str, PMap] = {}
        self.files: list[str] = []
        self.bytes = 0
        self.references = 0

    def spec(self, path: str, referrer: Referrer | None, stack: tuple[str, ...]) -> PMap:
        key = os.path.realpath(path)
        if key in self.done:
            return self.done[key]
        span = referrer.span if referrer else None
        if len(stack) > limits.MAX_EXTENDS_DEPTH:
            raise self.limit(f"'extends'/'imports' nest deeper than {limits.MAX_EXTENDS_DEPTH} files", span)
        if len(self.files) >= limits.MAX_SPEC_FILES:
            raise self.limit(f"the spec reads more than {limits.MAX_SPEC_FILES} files (extends and imports)", span)
        text = read_text(path, referrer)
        self.bytes += len(text)
        if self.bytes > limits.MAX_TOTAL_BYTES:
            raise self.limit(f"the spec's files together exceed {limits.MAX_TOTAL_BYTES:,} characters", span)
        self.files.append(key)
        doc = self.resolve(parse_document(path, text, referrer), path, stack + (key,))
        self.done[key] = doc
        return doc

    @staticmethod
    def limit(message: str, span: Span | None) -> SpecError:
        return limits.LimitExceeded(error(message, span, hint="a spec and the files it extends or imports "
                                          "are limited (see docs/errors.md)").diagnostics)

    def resolve(self, doc: PMap, path: str, stack: tuple[str, ...]) -> PMap:
        for field in ("extends", "imports"):
            if field not in doc:
                continue
            for target, span in _targets(doc, field):
                self.references += 1
                if self.references > limits.MAX_REFERENCES:
                    raise self.limit(f"the spec resolves more than {limits.MAX_REFERENCES:,} extends/imports", span)
                _check_file_name(target, span)
                target_path = os.path.normpath(os.path.join(os.path.dirname(path), target))
                if os.path.realpath(target_path) in stack:
                    raise error(f"cyclic '{field}': '{target}' is already being loaded", span, path=field,
                                hint="break the cycle: a spec cannot (indirectly) extend or import itself")
                other = self.spec(target_path, Referrer(field, target, span), stack)
                doc = _extend(other, doc) if field == "extends" else _import_blocks(other, doc)
            doc.pop(field, None)
        return doc


def _targets(doc: PMap, field: str) -> list[tuple[str, Span | None]]:
    value = doc[field]
    if isinstance(value, str):
        return [(value, doc.span_of(field))]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [(v, value.span_of(i)) for i, v in enumerate(value)]
    raise error(f"'{field}' must be a file name or a list of file names", doc.span_of(field), path=field)


def _merge(base: PMap, override: PMap) -> PMap:
    merged = PMap(base, span=override.span or base.span)
    merged.key_spans = {**base.key_spans, **override.key_spans}
    merged.value_spans = {**base.value_spans, **override.value_spans}
    merged.update(override)
    return merged


def _extend(parent: PMap, child: PMap) -> PMap:
    """Child keys override the parent's; `params` and `blocks` merge key by key."""
    merged = _merge(parent, child)
    for section in ("params", "blocks"):
        if isinstance(parent.get(section), PMap) and isinstance(child.get(section), PMap):
            merged[section] = _merge(parent[section], child[section])
    merged.pop("extends", None)
    return merged


def _import_blocks(library: PMap, doc: PMap) -> PMap:
    """Blocks of an imported file become available; the importing spec's own blocks win."""
    blocks = library.get("blocks")
    if not isinstance(blocks, PMap):
        return doc
    merged = _merge(doc, PMap(span=doc.span))
    own = doc.get("blocks") if isinstance(doc.get("blocks"), PMap) else PMap(span=doc.span_of("blocks"))
    merged["blocks"] = _merge(blocks, own)
    return merged
