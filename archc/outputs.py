"""Where a command may write: never onto a file it reads, and default names in the current folder.

`check_output` refuses an output that is (after following links, or as a hard link to the same
inode) the spec, a file it extends or imports, or the weights being read, and an output that names
something other than a file (a directory, a block device, a socket). FIFOs and character devices
are allowed: `archc.atomic` writes through to them. `default_output` makes a name from the spec
file's own name (or the model's name, made safe) in the current folder, never from path-like text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .atomic import WRITTEN_THROUGH, file_kind


class OutputRefused(ValueError):
    """An output name that would destroy an input or is not a file (a usage error: exit 2)."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two names are one file: equal real paths, or the same inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except OSError:
        return False


def check_output(output: str | os.PathLike, reads=()) -> None:
    """Refuse `output` if it is one of the files in `reads`, or not something a file can be written to."""
    kind = file_kind(output)
    if kind not in (None, "regular", *WRITTEN_THROUGH):
        raise OutputRefused(f"'{output}' is a {kind}, not a file archc can write (nothing written)")
    if kind in WRITTEN_THROUGH:
        return  # written through: an input is a regular file, so never this one
    for read in reads:
        if same_file(output, read):
            how = "" if os.path.realpath(output) == os.path.realpath(read) else " (a link to the same file)"
            raise OutputRefused(f"'{output}' is the input '{read}'{how}, which this command reads; "
                                "writing it would destroy it: name another output file (nothing written)")


def read_files(doc) -> tuple[str, ...]:
    """The real paths a loaded spec was read from (`archc.loader` records them)."""
    return tuple(getattr(doc, "sources", ()))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def safe_name(text: str, fallback: str = "model") -> str:
    """`text` as one plain file name: no folders, no leading dot, only letters, digits and `_.+-`."""
    name = _UNSAFE.sub("_", str(text)).strip("._")[:100]
    return name or fallback


def default_output(source, model_name: str, suffix: str) -> Path:
    """NAME + suffix in the current folder: NAME is the spec file's own name, or the model's name made safe.

    `source`: an archc.pipeline.Source (or what `as_source` takes)."""
    from .pipeline import as_source

    source = as_source(source)
    return Path(safe_name(source.stem if source.kind == "file" else model_name) + suffix)
