"""`archc build`: build the nn.Module, summarise it, check it, save it or emit its Python source."""

from __future__ import annotations

import click

from ..atomic import write_text
from ..pipeline import compile_spec
from . import UsageProblem, main
from .messages import echo_json, wrote
from .options import checked_output, spec_options


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


TREE = {True: ("├─ ", "└─ ", "│  "), False: ("|- ", "`- ", "|  ")}  # box drawing on a terminal, ASCII when piped


def summary(graph, model, depth: int, unicode: bool = False) -> list[str]:
    """The module tree down to `depth` levels, with parameter counts; leaves as their constructor calls."""
    from ..emit.forward import inplace_nodes
    from ..emit.lowering import call_source, node_call

    branch, last_branch, bar = TREE[unicode]
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    trainable = f", {count(model) - frozen:,} trainable" if frozen else ""
    lines = [f"{type(model).__name__}  ({count(model):,} parameters{trainable})"]
    leaves = {node.module: node for node in graph.nodes if node.module is not None}
    inplace = inplace_nodes(graph)

    def walk(module, prefix: str, level: int, path: str = "") -> None:
        children = list(module.named_children())
        for k, (name, child) in enumerate(children):
            last = k == len(children) - 1
            child_path = f"{path}.{name}" if path else name
            nested = child_path not in leaves
            what = type(child).__name__ if nested else \
                call_source(node_call(graph, leaves[child_path], inplace))[0].removeprefix("nn.")
            params = count(child)
            lines.append(f"{prefix}{last_branch if last else branch}{name}: {what}" + (f"  {params:,}" if params else ""))
            if nested and level < depth:
                walk(child, prefix + ("   " if last else bar), level + 1, child_path)

    walk(model, "", 1)
    return lines


@main.command()
@click.argument("file", type=click.Path())
@spec_options
@click.option("--seed", type=int, help="Seed the initial weights (same seed, same state_dict).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the model (.pt: state_dict + resolved spec) or the Python source (.py, or with --emit python).")
@click.option("--emit", type=click.Choice(["python"]), help="Emit standalone Python source instead of a model file.")
@click.option("--flat", is_flag=True, help="With --emit python: one class whose forward runs every layer in turn "
              "(for debugging) instead of one class per block.")
@click.option("--check", is_flag=True, help="Run a forward pass on the meta device and compare every layer's "
              "runtime shape with the static one.")
@click.option("--depth", type=click.IntRange(min=1), default=1, show_default=True,
              help="Levels of the module tree in the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (and what was checked and written) as JSON.")
def build(file, spec_kwargs, seed, output, emit, flat, check, depth, as_json):
    """Build the PyTorch module of a spec: summary, --check, -o model.pt, --emit python."""
    from ..emit.build import build_from_graph
    from ..emit.python_source import module_source
    from ..saving import save

    if emit is None and output and output.endswith(".py"):
        emit = "python"  # `-o model.py` can only mean the source
    if emit == "python" and seed is not None:
        raise UsageProblem("--seed does nothing with --emit python: the emitted source holds no weights")
    if flat and emit != "python":
        raise UsageProblem("--flat goes with --emit python (it chooses the layout of the emitted source)")
    if emit == "python" and as_json and not output:
        raise UsageProblem("--json with --emit python needs -o FILE (without it the source is the output)")
    compiled = compile_spec(file, **spec_kwargs)
    checked_output(output, compiled.doc, file)
    graph, spec = compiled.graph, compiled.spec
    structure = build_from_graph(graph, spec, device="meta")
    checked = run_check(graph, structure) if check else None
    if emit == "python":
        if checked is not None and not as_json:
            click.echo(check_line(checked), err=True)
        source = module_source(graph, file, flat)
        if output:
            write_text(output, source)
            wrote(output)
        else:
            click.echo(source, nl=False)
    else:
        if not as_json:
            click.echo(f"{graph.name}: {len(graph.nodes)} layers, input {list(graph.input_shape)}")
            click.echo("\n".join(summary(graph, structure, depth, unicode=click.get_text_stream("stdout").isatty())))
            if checked is not None:
                click.echo(check_line(checked))
        if output:
            save(build_from_graph(graph, spec, seed), output)
            wrote(output)
    if as_json:
        echo_json(report(graph, structure, depth, checked, output))


def report(graph, model, depth: int, checked: int | None, output: str | None) -> dict:
    """`build --json`: the module tree to `depth` levels, parameter totals, the check and the output file."""
    modules = [{"path": name, "type": type(m).__name__, "params": count(m)}
               for name, m in model.named_modules() if name and name.count(".") < depth]
    return {"name": graph.name, "class": type(model).__name__, "input": list(graph.input_shape),
            "layers": len(graph.nodes), "params": count(model),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "modules": modules, "check": None if checked is None else {"layers": checked, "ok": True},
            "output": output}


def check_line(checked: int) -> str:
    return f"check: the runtime shapes of all {checked} layers match the static ones"


def run_check(graph, structure) -> int:
    """`--check`: compare runtime shapes on the meta device with the static ones; a mismatch exits 3."""
    from ..emit.check import check_shapes

    checked, mismatches = check_shapes(graph, structure)
    for mismatch in mismatches:
        click.echo(f"archc: check failed: {mismatch} (a bug in archc's shape inference)", err=True)
    if mismatches:
        raise click.exceptions.Exit(3)
    return checked
