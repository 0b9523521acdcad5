"""YAML text to a positioned tree, safely: plain values only, bounded size, precise locations.

Mappings become `PMap` and sequences `PList`; both remember where each key and value came from,
so every later stage can point at the exact `file:line:col`. libyaml parses (fast); only a text
with a YAML syntax error is read again by PyYAML's own parser, whose messages and marks are more
precise, and only when it is small enough for that to be quick.

Refused: every explicit tag (`!!int 4` as much as `!!python/object`), more than MAX_YAML_NODES
nodes as written or after alias expansion, aliases that contain themselves. Merge keys
(`<<: *base`) work as YAML defines them: keys written in the mapping override merged ones.
"""

from __future__ import annotations

import yaml

from . import limits
from .errors import Span, SpecError, error, register_source


class PMap(dict):
    """A YAML mapping that remembers the span of itself, its keys and its values.

    `sources` (set on a loaded spec only): the real paths of every file it was read from.
    """

    __slots__ = ("span", "key_spans", "value_spans", "sources")

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


def copy_tree(value):
    """A positioned tree whose mappings and lists are new (spans and scalars, immutable, are shared)."""
    if isinstance(value, PMap):
        copy = PMap({k: copy_tree(v) for k, v in value.items()}, span=value.span)
        copy.key_spans, copy.value_spans = dict(value.key_spans), dict(value.value_spans)
        return copy
    if isinstance(value, PList):
        copy = PList([copy_tree(v) for v in value], span=value.span)
        copy.item_spans = list(value.item_spans)
        return copy
    return value


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


_DROPPED = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
# Plain scalars that look like dates stay strings (as in YAML 1.2's core schema), and so does '='.
CORE_RESOLVERS = {first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED]
                  for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
TAG_HINT = "archc loads YAML safely: plain strings, numbers, booleans, null, lists and mappings, no tags"


class _Implicit(str):
    """A tag the resolver gave a node; a node whose tag is a plain str was tagged explicitly."""


_IMPLICIT: dict[str, _Implicit] = {}


class PlainTags:
    """Mixed into a loader: refuses every explicitly tagged node and counts the nodes composed."""

    nodes = 0

    def resolve(self, kind, value, implicit):
        """The tag of an untagged node (the composer asks only for those)."""
        self.nodes += 1
        if self.nodes > limits.MAX_YAML_NODES:
            raise _Stop(f"the document has more than {limits.MAX_YAML_NODES:,} YAML nodes (keys, values and "
                        "list items)", "write repeated layers as a loop ('for:') or a block instead of one by one")
        tag = yaml.resolver.BaseResolver.resolve(self, kind, value, implicit)
        return _IMPLICIT.get(tag) or _IMPLICIT.setdefault(tag, _Implicit(tag))

    def construct_object(self, node, deep=False):
        if type(node.tag) is not _Implicit:
            self.refuse(node, f"the YAML tag '{_short(node.tag)}' is not allowed")
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
            self.refuse(node, f"cannot read this value: {exc}")

    def refuse(self, node, message: str):
        raise ValueError(message)


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class _Stop(ValueError):
    """Raised while composing: more than MAX_YAML_NODES nodes."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint


class _Positioned(PlainTags, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """Builds PMap/PList trees with spans."""

    yaml_implicit_resolvers = CORE_RESOLVERS
    file: str
    text: str

    def span(self, node: yaml.Node) -> Span:
        return span_of_node(self.file, node, self.text)

    def refuse(self, node, message: str):
        raise error(message, self.span(node), hint=TAG_HINT if "tag" in message else None)

    def construct_positioned_map(self, node):
        data = PMap(span=self.span(node))
        yield data
        written = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)
        merged = len(node.value) - written  # flatten_mapping puts the merged pairs first
        from_merge = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise error("a mapping key must be a plain value", self.span(key_node)) from None
            if key in data and index >= merged and key not in from_merge:
                raise error(f"duplicate key '{key}'", self.span(key_node),
                            hint=f"'{key}' is already defined at line {data.key_spans[key].line}; keep one")
            data[key] = self.construct_object(value_node, deep=True)
            data.key_spans[key] = self.span(key_node)
            data.value_spans[key] = self.span(value_node)
            (from_merge.add if index < merged else from_merge.discard)(key)

    def construct_positioned_list(self, node):
        data = PList(span=self.span(node))
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=True))
            data.item_spans.append(self.span(child))


_Positioned.add_constructor("tag:yaml.org,2002:map", _Positioned.construct_positioned_map)
_Positioned.add_constructor("tag:yaml.org,2002:seq", _Positioned.construct_positioned_list)


class _FastLoader(_Positioned, yaml.CSafeLoader):
    """libyaml's parser (~30x faster)."""

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self.file, self.text = file, stream


class _Loader(_Positioned, yaml.SafeLoader):
    """The pure-Python parser: precise error marks."""

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self.file, self.text = file, stream


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
                    f"the document's aliases expand it to more than {limits.MAX_YAML_NODES:,} YAML nodes",
                    span_of_node(file, node, text),
                    hint="this looks like an alias bomb; write the spec without deep alias nesting",
                )
            sizes[id(node)] = total
        else:
            edges += len(children)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return edges - (len(sizes) - 1)


def _read(loader: _Positioned):
    """Compose (counting nodes), check the alias limits, construct."""
    try:
        try:
            node = loader.get_single_node()
        except _Stop as stop:
            raise error(stop.message, _where_stopped(loader), hint=stop.hint) from None
        if node is None:
            return None
        if "&" in loader.text and _expanded_size(node, loader.file, loader.text) > limits.MAX_YAML_ALIASES:
            raise error(f"too many YAML aliases (more than {limits.MAX_YAML_ALIASES:,})", Span(loader.file, 1, 1),
                        hint="aliases are limited to keep alias bombs out; write the values out or use blocks")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _where_stopped(loader) -> Span:
    """Where composing stopped, as near as the parser tells (its next event)."""
    try:
        return _mark_span(loader.file, loader.peek_event().start_mark) or Span(loader.file, 1, 1)
    except Exception:  # noqa: BLE001 - a parser that cannot say: the start of the file
        return Span(loader.file, 1, 1)


def parse_yaml(text: str, file: str, quote: bool = True):
    """Parse YAML text into a positioned tree (PMap/PList/scalars).

    `quote`: let diagnostics show lines of this text (callers turn it off for files that may not be specs).
    """
    if quote:
        register_source(file, text)
    try:
        return _read(_FastLoader(text, file))
    except yaml.YAMLError as exc:
        fast = exc  # a syntax error: the precise parser below says it better, where it is quick enough
    except RecursionError:
        raise error("the YAML is nested too deeply", Span(file, 1, 1)) from None
    try:
        loader = _Loader(text, file)  # its reader checks every character first (quick at any size)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise error(f"the file contains the control character #x{exc.character:04x}, which YAML does not allow",
                    Span(file, line, col), hint="remove it: a spec is plain text") from None
    if len(text) > limits.MAX_PRECISE_YAML_BYTES:
        loader.dispose()
        raise _syntax_error(fast, text, file)
    try:
        return _read(loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", Span(file, 1, 1)) from None
    except RecursionError:
        raise error("the YAML is nested too deeply", Span(file, 1, 1)) from None


def _syntax_error(exc: yaml.YAMLError, text: str, file: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None)
    problem = getattr(exc, "problem", None) or context or "invalid YAML"
    if context and problem.startswith("but "):  # "expected a single document ..., but found another"
        problem = f"{context}, {problem}"
    hint = _yaml_hint(problem, text, mark)
    opened, what = getattr(exc, "context_mark", None), _OPENED.get((context or "").split(" a ")[-1])
    if what and opened is not None and mark is not None and opened.line != mark.line:
        started = f"see {what} at line {opened.line + 1}, column {opened.column + 1}"
        hint = f"{hint}; {started}" if hint else started
    return error(f"invalid YAML: {problem}", _mark_span(file, mark) or Span(file, 1, 1), hint=hint)


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
