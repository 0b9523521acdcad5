"""Options shared by the commands that read a spec: --set, --input, --max-params."""

from __future__ import annotations

import functools

import click

from .. import limits
from ..outputs import OutputRefused, check_output, read_files
from ..params import parse_override
from ..pipeline import parse_input


def spec_options(func):
    """Add --set/--input/--max-params and pass `spec_kwargs` (params, input_shape, max_params)."""

    @click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                  help="Override a spec param (value read as YAML: 2, 0.5, [[1, 64]], true). Repeatable.")
    @click.option("--input", "input_text", metavar="CxHxW", help="Input shape without the batch, e.g. 3x32x32.")
    @click.option("--max-params", type=click.IntRange(min=1), default=limits.MAX_PARAMS, show_default=True,
                  help="Refuse models with more parameters than this.")
    @functools.wraps(func)
    def wrapper(*args, sets, input_text, max_params, **kwargs):
        params = {}
        for text in sets:
            try:
                key, value = parse_override(text)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--set") from None
            params[key] = value
        try:
            shape = parse_input(input_text) if input_text is not None else None
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--input") from None
        spec_kwargs = {"params": params, "input_shape": shape, "max_params": max_params}
        return func(*args, spec_kwargs=spec_kwargs, **kwargs)

    return wrapper


def checked_output(output, doc=None, *others, option: str = "-o") -> None:
    """Refuse (usage error, exit 2) an `-o` that is a file the command reads: the spec `doc` was loaded
    from, a file it extends or imports, or one of `others` (e.g. --weights); see archc.outputs."""
    if output is None:
        return
    try:
        check_output(output, [*read_files(doc), *(o for o in others if o)])
    except OutputRefused as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
