"""The bundled zoo: the specs shipped with archc, found by name from any folder.

`resolve` is the one place where a spec argument becomes a file: a real file always wins, then a
bundled spec's name (`resnet18`, or `resnet18.yaml` without a folder); anything else is a located
"no such file" error with a did-you-mean over both.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import did_you_mean, error

SUFFIXES = (".yaml", ".yml")


def folder() -> Path | None:
    """The bundled specs: `archc/specs` in an installed wheel, the repository's `specs/` in a checkout."""
    package = Path(__file__).resolve().parent
    if (package / "specs").is_dir():
        return package / "specs"
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "specs").is_dir():
        return checkout / "specs"
    return None


def names() -> list[str]:
    """The names of the bundled specs, sorted."""
    where = folder()
    return sorted(p.stem for p in where.glob("*.yaml")) if where else []


def path_of(name: str) -> Path | None:
    """The file of bundled spec `name` (with or without .yaml), or None."""
    where = folder()
    stem = name[: -len(suffix)] if (suffix := Path(name).suffix) in SUFFIXES else name
    if where is None or os.sep in name or "/" in name or stem not in names():
        return None
    return where / f"{stem}.yaml"


def resolve(source: str | os.PathLike) -> str:
    """The file to read for a spec argument: an existing path as given, else a bundled spec's file."""
    text = os.fspath(source)
    if os.path.exists(text) or "\x00" in text or not text.strip():
        return text  # a real file wins; the loader reports directories and bad names
    bundled = path_of(text)
    if bundled is not None:
        return str(bundled)
    raise error(f"no such file: '{text}'", None, hint=_hint(text))


def _hint(text: str) -> str:
    parent = Path(text).parent
    try:
        files = [str(parent / p.name) if str(parent) != "." else p.name
                 for p in parent.iterdir() if p.suffix in SUFFIXES]
    except OSError:
        files = []
    stem = Path(text).stem if Path(text).suffix in SUFFIXES else text
    close = did_you_mean(text, [*files, *names()]) or did_you_mean(stem, names())
    if close:
        return close
    return "give the path of a .yaml spec, or a bundled spec's name (`archc list` shows them)"
