"""Memory reports as text: sizes written and read (`24GiB`), the `archc memory` table, the `shapes` line."""

from __future__ import annotations

import re

from .errors import SpecError
from .footprint import MemoryReport, Settings, memory_of
from .ir import Graph

_UNITS = {"": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3, "t": 1000 ** 4,
          "ki": 2 ** 10, "mi": 2 ** 20, "gi": 2 ** 30, "ti": 2 ** 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
OPTIMIZER_NAMES = {"none": "no optimizer", "sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam",
                   "adamw": "AdamW"}


def parse_size(text: str) -> int:
    """'80GiB' -> 80 * 2**30, '24GB' -> 24e9, '512MiB', '1e9' is refused; a bare number is bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a size like 80GiB, 24GB or 512MiB")
    number, unit = match.groups()
    unit = (unit or "").lower()
    if len(unit) == 1 and str(text).strip().lower().endswith(unit):  # '80G': binary, as GPU tools print it
        unit += "i"
    return int(float(number) * _UNITS[unit])


def fmt_bytes(n: int) -> str:
    """Bytes with a binary unit and 3 significant digits: 1.23 GiB, 45.6 MiB, 512 B."""
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{n} B"


def table(report: MemoryReport, depth: int = 0) -> str:
    """Per layer (or per scope at `depth`): saved activations, model state, and the inference live set."""
    s = report.settings
    head = ("layer", "op", "saved acts", "params+grads+opt", "inference live")
    body = []
    for row in report.rows(depth):
        f = report.layer_fields(row)
        state = f["params_bytes"] + f["grads_bytes"] + f["optimizer_bytes"]
        body.append(("  " * len(row.scopes) + row.path, row.op, fmt_bytes(f["activations_bytes"]), fmt_bytes(state),
                     fmt_bytes(f["inference_peak_bytes"])))
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(5)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(line(head))
    t = report.totals()
    title = (f"{report.graph.name}: batch {s.batch}, {s.dtype}, {s.mode}, "
             f"{OPTIMIZER_NAMES[s.optimizer] if s.mode == 'train' else 'no gradients'}, {s.device}")
    if s.world_size > 1 or s.shard != "none":
        title += f"; per rank of {s.world_size} ({s.shard}), batch {s.batch} per rank"
    out = [title, rule, line(head), rule, *map(line, body), rule]
    if s.mode == "train":
        out += [f"activations saved for backward: {fmt_bytes(t['activations_bytes'])}",
                (f"params {fmt_bytes(t['params_bytes'])}, grads {fmt_bytes(t['grads_bytes'])}, "
                 f"optimizer state {fmt_bytes(t['optimizer_bytes'])}"), *_sharding_lines(report)]
        if s.checkpoint:
            out.append(f"checkpointed ({', '.join(s.checkpoint)}): the largest rebuilt in backward "
                       f"{fmt_bytes(report.recompute.at(s.batch))}, counted in the total")
        out.append(f"training total: {fmt_bytes(t['total_train_bytes'])} ({t['total_train_bytes']:,} bytes)")
    out.append(f"inference peak: {fmt_bytes(t['inference_peak_bytes'])} of live tensors")
    if s.mode == "infer":
        plus = " + the above" if s.shard != "none" else ""
        out += [*_sharding_lines(report), f"inference total (params + peak{plus}): {fmt_bytes(t['total_train_bytes'])}"]
    out.append("not counted: the allocator's rounding and caching, cuDNN/oneDNN workspaces, the CUDA context "
               "(see docs/memory.md)")
    return "\n".join(out)


def _sharding_lines(report: MemoryReport) -> list[str]:
    """What the ranks hold besides the table's per-layer state (docs/memory.md, 'Several ranks')."""
    s = report.settings
    if s.shard == "ddp":
        return [(f"DDP gradient buckets: {fmt_bytes(report.buckets)} per rank (a flat copy of every gradient, "
                 "gradient_as_bucket_view=False), counted in the total")]
    if s.shard == "fsdp":
        return [(f"FSDP: the model state sharded {s.world_size} ways (per parameter, rank 0's padded piece of "
                 f"dim 0); all-gathered units alive at once: {fmt_bytes(report.gathered)}, counted in the total")]
    if s.world_size > 1:
        return [f"no sharding: each of the {s.world_size} ranks holds a full replica, no communication buffers"]
    return []


def summary_line(graph: Graph, budget: int) -> str:
    """One line for `archc shapes`: activations and training total at batch 1 (fp32, AdamW) and the
    largest batch within `budget`."""
    try:
        report = memory_of(graph, Settings())
    except SpecError as exc:  # an op (a plugin's) without a memory trait: shapes still works
        return f"memory: unknown ({exc.diagnostics[0].message})"
    t = report.totals(1)
    fits = report.max_batch(budget)
    return (f"memory (fp32, AdamW, batch 1): activations {fmt_bytes(t['activations_bytes'])}, training total "
            f"{fmt_bytes(t['total_train_bytes'])}; fits {fmt_bytes(budget)} up to batch {fits:,} (archc memory)")
