"""Commands that never import torch: validate, shapes, schema."""

from __future__ import annotations

import json

import click

from .. import library, report
from ..errors import SpecError
from ..pipeline import analyze, analyze_doc, load
from ..schema import schema
from . import main
from .options import spec_options


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result per file.")
def validate(files, as_json):
    """Check specs: structure, params, references and every shape."""
    failed, results = [], []
    for file in files:
        try:
            result, line = _validate_one(file)
        except SpecError as exc:
            failed.append(exc)
            results.append({"file": file, "ok": False, "errors": [d.to_json() for d in exc.diagnostics],
                            "error_count": exc.count})  # errors past the cap are counted, not listed
            if not as_json:
                click.echo(str(exc), err=True)
            continue
        results.append(result)
        if not as_json:
            click.echo(line)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if failed:
        count = sum(e.count for e in failed)
        click.echo(f"{len(failed)} of {len(files)} file(s) failed with {count} error(s)", err=True)
        raise click.exceptions.Exit(1)


def _validate_one(file: str) -> tuple[dict, str]:
    """Check one spec or block library: its JSON result and its 'ok' line."""
    doc = load(file)
    if library.is_library(doc):
        blocks = library.check(doc)
        return ({"file": file, "ok": True, "library": True, "blocks": blocks},
                f"ok  {file}: block library, {len(blocks)} block{'s' if len(blocks) != 1 else ''} "
                f"({', '.join(blocks)})")
    graph = analyze_doc(doc)
    return ({"file": file, "ok": True, "layers": len(graph.nodes), "params": graph.total_params},
            f"ok  {file}: {graph.name}, {len(graph.nodes)} layers, {graph.total_params:,} params")


@main.command()
@click.argument("file", type=click.Path())
@spec_options
@click.option("--depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Collapse blocks and groups nested deeper than this (0: show every layer).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--budget", default="80GiB", show_default=True, metavar="SIZE",
              help="Memory for the summary line's 'fits up to batch N' (training, fp32, AdamW; see archc memory).")
def shapes(file, spec_kwargs, depth, as_json, budget):
    """Per-layer output shapes, parameters and MACs, without running anything."""
    from ..footprint_text import parse_size, summary_line

    try:
        budget_bytes = parse_size(budget)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--budget") from None
    graph = analyze(file, **spec_kwargs)
    if as_json:
        click.echo(json.dumps(report.to_json(graph, depth), indent=2))
    else:
        click.echo(report.table(graph, depth))
        click.echo(summary_line(graph, budget_bytes))


@main.command("schema")
def schema_command():
    """Print the JSON Schema of specs (for editors: yaml-language-server)."""
    click.echo(json.dumps(schema(), indent=2))
