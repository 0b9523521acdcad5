"""Diagnostics: one error format for every stage (location, snippet, spec path, hint)."""

from __future__ import annotations

import difflib
import heapq
from contextvars import ContextVar
from dataclasses import dataclass, field

_SOURCES: dict[str, list[str]] = {}


class ExprError(Exception):
    """An expression is malformed or cannot be evaluated; `fatal`: the spec's work budget is spent."""

    def __init__(self, message: str, hint: str | None = None, fatal: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fatal = fatal


def register_source(file: str, text: str) -> None:
    """Remember a file's lines so diagnostics can quote them."""
    _SOURCES[file] = text.splitlines()


@dataclass(frozen=True)
class Span:
    """A place in a spec file; line and col are 1-based."""

    file: str
    line: int
    col: int
    length: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Note:
    """A secondary location of a diagnostic ("first defined here")."""

    message: str
    span: Span

    def to_json(self) -> dict:
        return {"message": self.message, "file": self.span.file, "line": self.span.line, "col": self.span.col}


@dataclass
class Diagnostic:
    """One error: what is wrong, where (one primary location, optional secondary ones), and what to do."""

    message: str
    span: Span | None = None
    path: str = ""
    hint: str | None = None
    notes: tuple[Note, ...] = ()

    def render(self) -> str:
        """The text form (rustc-like): location, message, snippet, notes with their own snippets, path, hint."""
        where = f"{self.span}: " if self.span else ""
        out = [f"{where}error: {self.message}", *_snippet(self.span)]
        for note in self.notes:
            out.append(f"{note.span}: note: {note.message}")
            out.extend(_snippet(note.span))
        if self.path:
            out.append(f"   = path: {self.path}")
        if self.hint:
            out.append(f"   = hint: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict:
        span = self.span
        return {
            "message": self.message,
            "file": span.file if span else None,
            "line": span.line if span else None,
            "col": span.col if span else None,
            "path": self.path,
            "hint": self.hint,
            "notes": [note.to_json() for note in self.notes],
        }


SNIPPET_WIDTH = 100  # a longer line is shown as a window around the culprit


def _snippet(span: Span | None) -> list[str]:
    if span is None:
        return []
    lines = _SOURCES.get(span.file)
    if not lines or not 1 <= span.line <= len(lines):
        return []
    text, col = lines[span.line - 1].replace("\t", " "), span.col
    if len(text) > SNIPPET_WIDTH:
        start = max(0, min(col - 1 - SNIPPET_WIDTH // 4, len(text) - SNIPPET_WIDTH))
        end = start + SNIPPET_WIDTH
        text = ("..." if start else "") + text[start:end] + ("..." if end < len(lines[span.line - 1]) else "")
        col -= start - (3 if start else 0)
    num = str(span.line)
    pad = " " * len(num)
    caret = " " * (col - 1) + "^" * max(1, min(span.length, len(text) - col + 1))
    return [f"{pad} |", f"{num} | {text}", f"{pad} | {caret}"]


@dataclass
class SpecError(Exception):
    """A spec is wrong; carries every independent diagnostic found (at most MAX_ERRORS of them:
    `more` counts those found beyond, which are not kept)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    more: int = 0

    @property
    def count(self) -> int:
        """How many errors were found, shown or not."""
        return len(self.diagnostics) + self.more

    def __str__(self) -> str:
        shown = self.diagnostics[:max_errors()]
        hidden = self.count - len(shown)
        tail = [f"... and {hidden:,} more error{'s' if hidden != 1 else ''} (only the first {len(shown)} are shown)"]
        return "\n".join([d.render() for d in shown] + (tail if hidden else []))


def max_errors() -> int:
    from . import limits  # limits imports this module

    return limits.MAX_ERRORS


def error(message: str, span: Span | None = None, path: str = "", hint: str | None = None,
          notes: tuple[Note, ...] = ()) -> SpecError:
    """Build a SpecError holding a single diagnostic."""
    return SpecError([Diagnostic(message, span, path, hint, notes)])


SUGGESTION_POOL = 200  # candidates compared with a misspelt name, the most alike in first letter and length
_FULL: ContextVar["Collector | None"] = ContextVar("archc_full_collector", default=None)


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None (also once the errors being collected are
    past the cap: a hint nobody sees costs time, and a spec can have thousands of errors)."""
    if _FULL.get() is not None:
        return None
    name, pool = str(name), [str(c) for c in candidates]
    if len(pool) > SUGGESTION_POOL:
        pool = heapq.nsmallest(SUGGESTION_POOL, pool, key=lambda c: (c[:1] != name[:1], abs(len(c) - len(name))))
    close = difflib.get_close_matches(name, sorted(pool), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


class Collector:
    """Gathers independent diagnostics so one run reports them all: the first MAX_ERRORS are kept,
    the rest only counted (and get no hints)."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.more = 0
        self.cause: BaseException | None = None  # the first plugin exception, for `--debug`
        _FULL.set(None)  # a new collection: an earlier one that filled up is over

    def add(self, exc: SpecError) -> None:
        room = max(0, max_errors() - len(self.diagnostics))
        self.diagnostics.extend(exc.diagnostics[:room])
        self.more += exc.count - min(room, len(exc.diagnostics))
        if self.more:
            _FULL.set(self)
        self.cause = self.cause or exc.__cause__

    def raise_if_any(self) -> None:
        if _FULL.get() is self:
            _FULL.set(None)
        if self.diagnostics:
            raise SpecError(list(self.diagnostics), self.more) from self.cause
