"""Commands that never import torch: validate, shapes, schema."""

from __future__ import annotations

import json

import click

from .. import report
from ..errors import SpecError
from ..pipeline import analyze
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
            graph = analyze(file)
        except SpecError as exc:
            failed.append(exc)
            results.append({"file": file, "ok": False, "errors": [d.to_json() for d in exc.diagnostics]})
            if not as_json:
                click.echo(str(exc), err=True)
            continue
        results.append({"file": file, "ok": True, "layers": len(graph.nodes), "params": graph.total_params})
        if not as_json:
            click.echo(f"ok  {file}: {graph.name}, {len(graph.nodes)} layers, {graph.total_params:,} params")
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if failed:
        count = sum(len(e.diagnostics) for e in failed)
        click.echo(f"{len(failed)} of {len(files)} file(s) failed with {count} error(s)", err=True)
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("file", type=click.Path())
@spec_options
@click.option("--depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Collapse blocks and groups nested deeper than this (0: show every layer).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def shapes(file, spec_kwargs, depth, as_json):
    """Per-layer output shapes, parameters and MACs, without running anything."""
    graph = analyze(file, **spec_kwargs)
    if as_json:
        click.echo(json.dumps(report.to_json(graph, depth), indent=2))
    else:
        click.echo(report.table(graph, depth))


@main.command("schema")
def schema_command():
    """Print the JSON Schema of specs (for editors: yaml-language-server)."""
    click.echo(json.dumps(schema(), indent=2))
