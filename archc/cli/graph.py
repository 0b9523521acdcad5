"""`archc graph`: draw a spec with Graphviz (DOT text, or SVG/PNG/PDF through the `dot` program)."""

from __future__ import annotations

from pathlib import Path

import click

from ..atomic import write_bytes, write_text
from ..pipeline import analyze
from . import main
from .options import spec_options

RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
DOT_SUFFIXES = (".dot", ".gv")
INSTALL = "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz)"


def output_format(output: str | None) -> str | None:
    """The rendered format of `output` (None: DOT text); an unknown extension is a usage error."""
    if output is None:
        return None
    suffix = Path(output).suffix.lower()
    if suffix in DOT_SUFFIXES:
        return None
    if suffix not in RENDERED:
        supported = ", ".join([*DOT_SUFFIXES, *RENDERED])
        raise click.BadParameter(f"'{output}' has no supported extension ({supported})", param_hint="-o")
    return RENDERED[suffix]


@main.command()
@click.argument("file", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write .svg, .png or .pdf (needs Graphviz's dot) or .dot [default: DOT text on stdout].")
@click.option("--depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Draw blocks and groups nested this deep as one node each, and runs of identical blocks "
                   "as 'block x N' (0: every layer).")
@click.option("--direction", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB",
              show_default=True, help="Top to bottom or left to right.")
@spec_options
def graph(file, output, depth, direction, spec_kwargs):
    """Draw a spec: layers, merges, shapes on the edges, blocks as clusters."""
    import graphviz

    from ..emit.graphviz import digraph

    fmt = output_format(output)
    dot = digraph(analyze(file, **spec_kwargs), depth=depth or None, direction=direction.upper())
    if fmt is None:
        if output:
            write_text(output, dot.source)
            click.echo(f"wrote {output}", err=True)
        else:
            click.echo(dot.source, nl=False)
        return
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise click.ClickException(f"cannot render {output}: Graphviz's 'dot' program is not installed; "
                                   f"{INSTALL}, or write DOT text with -o NAME.dot (nothing written)") from None
    write_bytes(output, data)
    click.echo(f"wrote {output}", err=True)
