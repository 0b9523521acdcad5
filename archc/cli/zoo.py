"""`archc list` (alias `archc zoo`): the bundled specs, with their input, params and MACs (no torch)."""

from __future__ import annotations

import json

import click

from .. import zoo
from ..errors import SpecError
from ..pipeline import analyze
from ..report import human
from . import main


def entries() -> list[dict]:
    """One entry per bundled spec: name, file, input, params, MACs (or the error if one fails)."""
    out = []
    for name in zoo.names():
        path = zoo.path_of(name)
        try:
            graph = analyze(str(path))
        except SpecError as exc:  # a broken bundled spec is listed, not fatal
            out.append({"name": name, "file": str(path), "error": exc.diagnostics[0].message})
            continue
        out.append({"name": name, "file": str(path), "input": list(graph.input_shape),
                    "params": graph.total_params, "macs": graph.total_macs})
    return out


def _table(rows: list[dict]) -> str:
    head = ("spec", "input", "params", "", "MACs", "")
    body = [(r["name"], "error: " + r["error"], "", "", "", "") if "error" in r else
            (r["name"], "x".join(map(str, r["input"])),
             f"{r['params']:,}", human(r["params"]), f"{r['macs']:,}", human(r["macs"])) for r in rows]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in [head, *body]]
    return "\n".join([*lines, "", f"{len(rows)} bundled specs in {zoo.folder()}; give a name wherever a spec "
                      "file goes (archc shapes resnet18, archc.build(\"resnet18\")); a file of that name wins"])


def _list(as_json: bool) -> None:
    rows = entries()
    if as_json:
        click.echo(json.dumps({"folder": str(zoo.folder()), "specs": rows}, indent=2))
    else:
        click.echo(_table(rows))


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json):
    """The bundled specs (the zoo): input, params and MACs; use a name wherever a file goes."""
    _list(as_json)


@main.command("zoo")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def zoo_command(as_json):
    """The same as `archc list`."""
    _list(as_json)
