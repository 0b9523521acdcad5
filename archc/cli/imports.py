"""`archc import SOURCE -o spec.yaml`: a torchvision model, a user's nn.Module factory or an ONNX file as a spec."""

from __future__ import annotations

import click

from ..pipeline import parse_input
from . import main
from ..outputs import same_file
from .messages import wrote
from .options import checked_output


@main.command("import")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The spec to write.")
@click.option("--input", "input_text", metavar="CxHxW", help="Input shape to trace with [default: 3x224x224].")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Also write the source's weights, in the format `archc export --weights` takes.")
def import_command(source, output, input_text, weights):
    """Write a spec for SOURCE: torchvision:NAME, package.module:callable (a factory you name), or model.onnx.

    The spec is checked before it is written: it validates and builds to a module with the
    source's state_dict keys and shapes.
    """
    from ..atomic import atomic_path
    from ..importer.run import import_source
    from ..saving import save

    try:
        shape = parse_input(input_text) if input_text is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    if weights and same_file(output, weights):
        raise click.UsageError(f"-o and --weights name the same file ({output}); give two files")
    checked_output(output, None, source)  # never onto the ONNX file it reads
    checked_output(weights, None, source, option="--weights")
    result = import_source(source, shape, weights=bool(weights))
    with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(result.text)
    lines = len(result.text.splitlines())
    wrote(output, f"{lines} lines, {len(result.spec.get('blocks', {}))} blocks")
    if weights:
        save(result.model, weights, result.state_dict)
        wrote(weights, f"{len(result.state_dict)} tensors")
