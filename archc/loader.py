"""Safe YAML loading into a positioned tree, with `extends:` and `imports:` resolved.

Mappings become `PMap` and sequences `PList`; both remember where each key and
value came from, so every later stage can point at the exact `file:line:col`.
"""

from __future__ import annotations

import os

import yaml

from . import limits
from .errors import Span, SpecError, error, register_source


class PMap(dict):
    """A YAML mapping that remembers the span of itself, its keys and its values."""

    __slots__ = ("span", "key_spans", "value_spans")

    def __init__(self, *args, span: Span | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.span = span
        self.key_spans: dict = {}
        self.value_spans: dict = {}

    def span_of(self, key, *, key_only: bool = False) -> Span | None:
        spans = self.key_spans if key_only else self.value_spans
        return spans.get(key) or self.key_spans.get(key) or self.span


class PList(list):
    """A YAML sequence that remembers the span of itself and of each item."""

    __slots__ = ("span", "item_spans")

    def __init__(self, *args, span: Span | None = None):
        super().__init__(*args)
        self.span = span
        self.item_spans: list = []

    def span_of(self, index: int) -> Span | None:
        if 0 <= index < len(self.item_spans):
            return self.item_spans[index]
        return self.span


def span_of_node(file: str, node: yaml.Node, text: str = "") -> Span:
    start, end = node.start_mark, node.end_mark
    if end.line == start.line:
        length = end.index - start.index
    else:  # underline up to the end of the first line, without a trailing comment
        buffer = start.buffer or text  # libyaml's marks carry no buffer
        stop = buffer.find("\n", start.index)
        first = buffer[start.index: stop if stop >= 0 else len(buffer)]
        length = len(first.split(" #")[0].rstrip())
    return Span(file, start.line + 1, start.column + 1, max(1, length))


def _mark_span(file: str, mark) -> Span | None:
    return Span(file, mark.line + 1, mark.column + 1) if mark is not None else None


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# Plain scalars that look like dates stay strings (as in YAML 1.2's core schema).
CORE_RESOLVERS = {first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
                  for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
# Tags the safe loader knows but a spec has no use for: refused like any unknown tag.
REFUSED_TAGS = tuple(f"tag:yaml.org,2002:{name}" for name in ("binary", "timestamp", "set", "omap", "pairs"))
TAG_HINT = "archc loads YAML safely: plain strings, numbers, booleans, null, lists and mappings, no tags"


class _Positioned(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """Builds PMap/PList trees with spans and refuses every tag outside plain YAML."""

    yaml_implicit_resolvers = CORE_RESOLVERS
    file: str
    text: str

    def span(self, node: yaml.Node) -> Span:
        return span_of_node(self.file, node, self.text)

    def construct_undefined(self, node):  # every tag outside plain YAML: !!python/..., !custom, !!binary
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise error(f"the YAML tag '{tag}' is not allowed", self.span(node), hint=TAG_HINT)

    def construct_positioned_map(self, node):
        data = PMap(span=self.span(node))
        yield data
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise error("a mapping key must be a plain value", self.span(key_node)) from None
            if key in data:
                raise error(
                    f"duplicate key '{key}'",
                    self.span(key_node),
                    hint=f"'{key}' is already defined at line {data.key_spans[key].line}; keep one",
                )
            data[key] = self.construct_object(value_node, deep=True)
            data.key_spans[key] = self.span(key_node)
            data.value_spans[key] = self.span(value_node)

    def construct_positioned_list(self, node):
        data = PList(span=self.span(node))
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=True))
            data.item_spans.append(self.span(child))


_Positioned.add_constructor("tag:yaml.org,2002:map", _Positioned.construct_positioned_map)
_Positioned.add_constructor("tag:yaml.org,2002:seq", _Positioned.construct_positioned_list)
for _tag in (None, *REFUSED_TAGS):
    _Positioned.add_constructor(_tag, _Positioned.construct_undefined)


class _FastLoader(_Positioned, yaml.CSafeLoader):
    """libyaml's parser (~30x faster); any problem is re-read by `_Loader`, whose messages are precise."""

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self.file, self.text = file, stream


class _Loader(_Positioned, yaml.SafeLoader):
    """The pure-Python parser: precise error marks and an alias limit while composing."""

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self.file, self.text = file, stream
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > limits.MAX_YAML_ALIASES:
                event = self.peek_event()
                raise error(
                    f"too many YAML aliases (more than {limits.MAX_YAML_ALIASES})",
                    _mark_span(self.file, event.start_mark),
                    hint="aliases are limited to keep alias bombs out; write the values out or use blocks",
                )
        return super().compose_node(parent, index)


def _expanded_size(root: yaml.Node, file: str, text: str) -> int:
    """Refuse documents whose aliases expand past the node limit (billion laughs) or contain themselves.

    Returns the number of alias references (edges into a node beyond its first).
    """
    edges = 0
    sizes: dict[int, int] = {}
    opened: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if not done and id(node) in opened:
            raise error("a YAML alias refers to a node that contains it (a recursive structure)",
                        span_of_node(file, node, text), hint="a spec cannot contain itself; write the values out")
        opened.add(id(node))
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > limits.MAX_YAML_NODES:
                raise error(
                    f"the document expands to more than {limits.MAX_YAML_NODES} YAML nodes",
                    span_of_node(file, node, text),
                    hint="this looks like an alias bomb; write the spec without deep alias nesting",
                )
            sizes[id(node)] = total
        else:
            edges += len(children)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return edges - (len(sizes) - 1)


def _may_expand(text: str) -> bool:
    """Whether a document could break the expansion limits: without an anchor ('&') there is no alias,
    so it has at most a few nodes per character (nulls of ':', '-', '?' included)."""
    return "&" in text or 4 * len(text) > limits.MAX_YAML_NODES


def _read(loader: _Positioned):
    """Compose, check the expansion limits, construct."""
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _may_expand(loader.text) and _expanded_size(node, loader.file, loader.text) > limits.MAX_YAML_ALIASES:
            raise error(f"too many YAML aliases (more than {limits.MAX_YAML_ALIASES})", None)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str):
    """Parse YAML text into a positioned tree (PMap/PList/scalars)."""
    register_source(file, text)
    try:
        return _read(_FastLoader(text, file))
    except Exception:  # noqa: BLE001 - whatever went wrong, `_Loader` reads it again and says it precisely
        pass
    try:
        loader = _Loader(text, file)
    except yaml.reader.ReaderError as exc:  # a control character anywhere in the text
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise error(f"the file contains the control character #x{exc.character:04x}, which YAML does not allow",
                    Span(file, line, col), hint="remove it: a spec is plain text") from None
    try:
        return _read(loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and problem.startswith("but "):  # "expected a single document ..., but found another"
            problem = f"{exc.context}, {problem}"
        hint = _yaml_hint(problem, text, mark)
        opened, what = exc.context_mark, _OPENED.get((exc.context or "").split(" a ")[-1])
        if what and opened is not None and mark is not None and opened.line != mark.line:
            started = f"see {what} at line {opened.line + 1}, column {opened.column + 1}"
            hint = f"{hint}; {started}" if hint else started
        raise error(f"invalid YAML: {problem}", _mark_span(file, mark), hint=hint) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", Span(file, 1, 1)) from None
    except RecursionError:
        raise error("the YAML is nested too deeply", Span(file, 1, 1)) from None


_OPENED = {"flow mapping": "the '{'", "flow sequence": "the '['", "quoted scalar": "the opening quote",
           "block mapping": "the mapping", "block collection": "the enclosing list or mapping"}


def _yaml_hint(problem: str, text: str, mark) -> str | None:
    lines = text.splitlines()
    if "'\\t'" in problem or (mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]):
        return "YAML indentation must use spaces, not tabs"
    if "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        return "a bracket is not closed, or a comma is missing"
    if "mapping values are not allowed" in problem:
        return "check the indentation, or quote a value that contains ': '"
    if "expected <block end>" in problem:
        return "check the indentation: the items of one list or mapping start in the same column"
    if "single document" in problem:
        return "a spec is one YAML document: remove the '---' and what follows, or split the file"
    return None


def read_text(path: str) -> str:
    """Read a spec file as UTF-8, turning every I/O problem into a SpecError."""
    span = Span(path, 1, 1)
    if os.path.isdir(path):
        raise error(f"'{path}' is a directory, not a spec file", span, hint="give a .yaml file, e.g. specs/*.yaml")
    try:
        size = os.path.getsize(path)
        if size > limits.MAX_FILE_BYTES:
            raise error(f"'{path}' is {size} bytes; specs are limited to {limits.MAX_FILE_BYTES} bytes", span)
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise error(f"no such file: '{path}'", None, hint="check the path") from None
    except OSError as exc:
        raise error(f"cannot read '{path}': {exc.strerror}", None) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            Span(path, line, col),
            hint="save the spec as UTF-8",
        ) from None


def load_document(path: str):
    """Load one file as a positioned mapping, without resolving extends/imports."""
    text = read_text(path)
    doc = parse_yaml(text, path)
    if doc is None:
        raise error("the spec is empty", Span(path, 1, 1), hint="a spec needs at least 'name', 'input' and 'layers'")
    if not isinstance(doc, PMap):
        kind = "a list" if isinstance(doc, list) else "a single value, not 'key: value' lines"
        span = getattr(doc, "span", None) or _first_content(path, text)
        raise error(f"a spec must be a mapping, found {kind}", span, hint="start with 'name:', 'input:' and 'layers:'")
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


def _relative(base_file: str, target: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(base_file), target))


def load_spec(path: str, _stack: tuple[str, ...] = ()) -> PMap:
    """Load a spec with `extends:` and `imports:` resolved, detecting cycles."""
    _check_file_name(path, None)
    key = os.path.realpath(path)
    if len(_stack) > limits.MAX_EXTENDS_DEPTH:
        raise error(f"'extends'/'imports' nest deeper than {limits.MAX_EXTENDS_DEPTH} files", Span(path, 1, 1))
    return resolve_references(load_document(path), path, _stack + (key,))


def resolve_references(doc: PMap, path: str, stack: tuple[str, ...] = ()) -> PMap:
    """Resolve `extends:` and `imports:`, relative to the folder of `path`."""
    for field in ("extends", "imports"):
        if field in doc:
            doc = _resolve(doc, field, path, stack)
    return doc


def _targets(doc: PMap, field: str, path: str) -> list[tuple[str, Span | None]]:
    value = doc[field]
    if isinstance(value, str):
        return [(value, doc.span_of(field))]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [(v, value.span_of(i)) for i, v in enumerate(value)]
    raise error(f"'{field}' must be a file name or a list of file names", doc.span_of(field), path=field)


def _resolve(doc: PMap, field: str, path: str, stack: tuple[str, ...]) -> PMap:
    for target, span in _targets(doc, field, path):
        _check_file_name(target, span)
        target_path = _relative(path, target)
        if os.path.realpath(target_path) in stack:
            raise error(
                f"cyclic '{field}': '{target}' is already being loaded",
                span,
                path=field,
                hint="break the cycle: a spec cannot (indirectly) extend or import itself",
            )
        try:
            other = load_spec(target_path, stack)
        except SpecError as exc:
            if not os.path.exists(target_path):
                raise error(f"cannot {field[:-1] if field == 'imports' else 'extend'} '{target}': no such file",
                            span, path=field, hint=f"looked for {target_path}") from None
            raise exc
        doc = _extend(other, doc) if field == "extends" else _import_blocks(other, doc)
    doc.pop(field, None)
    return doc


def _merge(base: PMap, override: PMap) -> PMap:
    merged = PMap(base, span=override.span)
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
    merged = _merge(doc, PMap())
    own = doc.get("blocks") if isinstance(doc.get("blocks"), PMap) else PMap()
    merged["blocks"] = _merge(blocks, own)
    return merged
