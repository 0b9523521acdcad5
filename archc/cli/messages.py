"""How every command reports: `wrote PATH (details)` on stderr, JSON documents on stdout."""

from __future__ import annotations

import json

import click


def wrote(path, detail: str = "") -> None:
    """The one line every command prints for a file it wrote (stderr: stdout stays the report)."""
    click.echo(f"wrote {path}" + (f" ({detail})" if detail else ""), err=True)


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2))
