"""`archc memory`: what training and inference of a spec cost in memory, without importing torch."""

from __future__ import annotations

import json

import click

from ..footprint import DEVICES, ITEMSIZE, MODES, STATE_COPIES, Settings, memory_of
from ..footprint_text import fmt_bytes, parse_size, table
from ..pipeline import analyze
from ..sharding import SHARDS
from . import UsageProblem, main
from .options import spec_options


@main.command()
@click.argument("file", type=click.Path())
@spec_options
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size.")
@click.option("--dtype", type=click.Choice(list(ITEMSIZE)), default="fp32", show_default=True,
              help="Dtype of parameters, gradients, optimizer state and activations (a model cast with .to()).")
@click.option("--optimizer", type=click.Choice(list(STATE_COPIES)), default="adamw", show_default=True,
              help="Optimizer state: momentum keeps one copy of the parameters, adam/adamw two.")
@click.option("--mode", type=click.Choice(list(MODES)), default="train", show_default=True,
              help="train: saved activations, gradients, optimizer; infer: parameters and the live peak.")
@click.option("--device", type=click.Choice(list(DEVICES)), default="cuda", show_default=True,
              help="Where it runs (dropout's saved mask is bool on CUDA, the activations' dtype on CPU).")
@click.option("--checkpoint", "checkpoint", multiple=True, metavar="PATH",
              help="A scope or layer recomputed in backward (activation checkpointing what-if). Repeatable.")
@click.option("--world-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel ranks; every figure is per rank, --batch is the per-rank batch.")
@click.option("--shard", type=click.Choice(list(SHARDS), case_sensitive=False), default="none", show_default=True,
              help="none: a full replica per rank; ddp: also DDP's gradient buckets; fsdp: FSDP2 per block unit "
                   "(params, grads and optimizer state sharded, plus the units gathered at once).")
@click.option("--depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Roll up blocks and groups nested deeper than this (0: every layer).")
@click.option("--budget", metavar="SIZE", help="Also give the largest batch that fits, e.g. 24GiB (JSON: max_batch).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def memory(file, spec_kwargs, batch, dtype, optimizer, mode, device, checkpoint, world_size, shard, depth, budget,
           as_json):
    """Memory of training and inference, per layer: saved activations, params, grads, optimizer state."""
    try:
        budget_bytes = parse_size(budget) if budget is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--budget") from None
    graph = analyze(file, **spec_kwargs)
    settings = Settings(batch, dtype, optimizer, mode, device, tuple(checkpoint), world_size, shard)
    try:
        report = memory_of(graph, settings)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    fits = report.max_batch(budget_bytes) if budget_bytes is not None else None
    if as_json:
        data = report.to_json(depth)
        if fits is not None:
            data["max_batch"] = fits
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(table(report, depth))
    if fits is not None:
        click.echo(f"largest batch within {fmt_bytes(budget_bytes)} ({mode}): {fits:,}")
