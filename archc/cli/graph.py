"""`archc graph`: draw a spec with Graphviz (DOT text, or SVG/PNG/PDF through the `dot` program)."""

from __future__ import annotations

from pathlib import Path

import click

from ..atomic import write_bytes, write_text
from ..pipeline import compile_spec
from . import main
from .messages import wrote
from .options import checked_output, spec_options

RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
DOT_SUFFIXES = (".dot", ".gv")
MAX_RENDERED_NODES = 10_000  # dot takes seconds at this size; at 25,000 it ran out of memory and crashed
LESS = "draw fewer nodes with --depth 1 (or 2, ...), or write DOT text with -o NAME.dot"
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

    from ..emit.graphviz import digraph, drawn_nodes

    fmt = output_format(output)
    compiled = compile_spec(file, **spec_kwargs)
    checked_output(output, compiled.doc, file)
    graph = compiled.graph
    if fmt is not None and (count := drawn_nodes(graph, depth)) > MAX_RENDERED_NODES:
        raise click.ClickException(f"the diagram has {count:,} nodes, more than Graphviz lays out reliably "
                                   f"({MAX_RENDERED_NODES:,}); {LESS} (nothing written)")
    dot = digraph(graph, depth=depth or None, direction=direction.upper())
    if fmt is None:
        if output:
            write_text(output, dot.source)
            wrote(output)
        else:
            click.echo(dot.source, nl=False)
        return
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise click.ClickException(f"cannot render {output}: Graphviz's 'dot' program is not installed; "
                                   f"{INSTALL}, or write DOT text with -o NAME.dot (nothing written)") from None
    except graphviz.CalledProcessError as exc:  # dot crashed or ran out of memory
        said = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise click.ClickException(f"cannot render {output}: Graphviz's dot failed (exit {exc.returncode}"
                                   + (f": {said[-1][:200]}" if said else "") + f"); {LESS} (nothing written)") \
            from None
    write_bytes(output, data)
    wrote(output)
