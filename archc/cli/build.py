"""`archc build`: build the nn.Module, summarise it, check it, save it or emit its Python source."""

from __future__ import annotations

import click

from ..atomic import write_text
from ..pipeline import analyze_doc, load
from . import UsageProblem, main
from .options import spec_options


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def summary(model, depth: int) -> list[str]:
    """The module tree down to `depth` levels, with parameter counts; leaves as their constructor calls."""
    from ..emit.python_source import constructor

    lines = [f"{type(model).__name__}  ({count(model):,} parameters)"]

    def walk(module, prefix: str, level: int) -> None:
        children = list(module.named_children())
        for k, (name, child) in enumerate(children):
            last = k == len(children) - 1
            nested = len(child._modules) > 0
            what = type(child).__name__ if nested else constructor(child).removeprefix("nn.")
            params = count(child)
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{name}: {what}" + (f"  {params:,}" if params else ""))
            if nested and level < depth:
                walk(child, prefix + ("   " if last else "│  "), level + 1)

    walk(model, "", 1)
    return lines


@main.command()
@click.argument("file", type=click.Path())
@spec_options
@click.option("--seed", type=int, help="Seed the initial weights (same seed, same state_dict).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the model (.pt: state_dict + resolved spec) or the Python source (.py, or with --emit python).")
@click.option("--emit", type=click.Choice(["python"]), help="Emit standalone Python source instead of a model file.")
@click.option("--check", is_flag=True, help="Run a forward pass on the meta device and compare every layer's "
              "runtime shape with the static one.")
@click.option("--depth", type=click.IntRange(min=1), default=1, show_default=True,
              help="Levels of the module tree in the summary.")
def build(file, spec_kwargs, seed, output, emit, check, depth):
    """Build the PyTorch module of a spec: summary, --check, -o model.pt, --emit python."""
    from ..emit.build import build_from_graph, plain
    from ..emit.python_source import module_source
    from ..saving import save

    if emit is None and output and output.endswith(".py"):
        emit = "python"  # `-o model.py` can only mean the source
    if emit == "python" and seed is not None:
        raise UsageProblem("--seed does nothing with --emit python: the emitted source holds no weights")
    doc = load(file)
    graph = analyze_doc(doc, **spec_kwargs)
    spec = plain(doc)
    structure = build_from_graph(graph, spec, device="meta")
    if emit == "python":
        if check:
            run_check(graph, structure, err=True)
        source = module_source(graph, structure, spec.get("init"), file)
        if output:
            write_text(output, source)
            click.echo(f"wrote {output}", err=True)
        else:
            click.echo(source, nl=False)
        return
    click.echo(f"{graph.name}: {len(graph.nodes)} layers, input {list(graph.input_shape)}")
    click.echo("\n".join(summary(structure, depth)))
    if check:
        run_check(graph, structure)
    if output:
        save(build_from_graph(graph, spec, seed), output)
        click.echo(f"wrote {output}")


def run_check(graph, structure, err: bool = False) -> None:
    """`--check`: compare runtime shapes on the meta device with the static ones; a mismatch exits 3."""
    from ..emit.check import check_shapes

    checked, mismatches = check_shapes(graph, structure)
    for mismatch in mismatches:
        click.echo(f"archc: check failed: {mismatch} (a bug in archc's shape inference)", err=True)
    if mismatches:
        raise click.exceptions.Exit(3)
    click.echo(f"check: the runtime shapes of all {checked} layers match the static ones", err=err)
