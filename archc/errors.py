"""Diagnostics: one error format for every stage (location, snippet, spec path, hint)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

_SOURCES: dict[str, list[str]] = {}


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


@dataclass
class Diagnostic:
    """One error: what is wrong, where, and what to do about it."""

    message: str
    span: Span | None = None
    path: str = ""
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.span}: " if self.span else ""
        out = [f"{where}error: {self.message}"]
        snippet = _snippet(self.span)
        if snippet:
            out.extend(snippet)
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
        }


def _snippet(span: Span | None) -> list[str]:
    if span is None:
        return []
    lines = _SOURCES.get(span.file)
    if not lines or not 1 <= span.line <= len(lines):
        return []
    text = lines[span.line - 1].replace("\t", " ")
    num = str(span.line)
    pad = " " * len(num)
    caret = " " * (span.col - 1) + "^" * max(1, min(span.length, len(text) - span.col + 1))
    return [f"{pad} |", f"{num} | {text}", f"{pad} | {caret}"]


@dataclass
class SpecError(Exception):
    """A spec is wrong; carries every independent diagnostic found."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


def error(message: str, span: Span | None = None, path: str = "", hint: str | None = None) -> SpecError:
    """Build a SpecError holding a single diagnostic."""
    return SpecError([Diagnostic(message, span, path, hint)])


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None."""
    close = difflib.get_close_matches(str(name), sorted(map(str, candidates)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


class Collector:
    """Gathers independent diagnostics so one run reports them all."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def add(self, exc: SpecError) -> None:
        self.diagnostics.extend(exc.diagnostics)

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(list(self.diagnostics))
