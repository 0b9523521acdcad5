"""Memory: `archc memory` as a process against measuring the same figure with torch; on CUDA, the static
totals against torch.cuda.max_memory_allocated of real training steps (skipped without CUDA)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .common import (
    Config,
    Failed,
    Job,
    Section,
    Table,
    Target,
    bundled_specs,
    fmt_ratio,
    fmt_s,
    median_process,
    spec_path,
)
from .static import _python_bin

PROCESS_SPEC = "densenet121"
WALL_GOAL_S = 0.3
GPU_CASES = [("resnet50", 32, "fp32"), ("resnet50", 128, "bf16")]
TRANSFORMER_PREFIXES = ("vit", "gpt", "bert", "transformer")

# The same figure measured: torchvision's DenseNet-121, a train-mode forward at batch 1 on CPU under
# saved_tensors_hooks (unique non-parameter storages), then the backward; prints the bytes.
_MEASURE = """
import torch, torchvision
model = torchvision.models.densenet121(weights=None).train()
state = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
kept = {}
def pack(t):
    s = t.untyped_storage()
    if s.data_ptr() not in state:
        kept[s.data_ptr()] = (s.nbytes(), t)
    return t
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    out = model(torch.randn(1, 3, 224, 224))
print(sum(n for n, _ in kept.values()))
kept.clear()
out.sum().backward()
"""


def plan(cfg: Config):
    import torch

    jobs = []
    if PROCESS_SPEC in cfg.select(bundled_specs(), [PROCESS_SPEC]):
        jobs.append(Job(f"archc memory {PROCESS_SPEC} as a process", lambda: whole_process(cfg)))
    cases = []
    if torch.cuda.is_available():
        transformers = [s for s in bundled_specs() if s.startswith(TRANSFORMER_PREFIXES)][:1]
        cases = GPU_CASES + [(spec, 32, "bf16") for spec in transformers]
        jobs += [Job(f"gpu memory {spec} batch {batch} {dtype}", lambda c=(spec, batch, dtype): gpu_step(*c))
                 for spec, batch, dtype in cases]
    return jobs, lambda results: section(cfg, cases, results, torch.cuda.is_available())


def whole_process(cfg: Config) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads)}
    archc_argv = [_python_bin("archc"), "memory", spec_path(PROCESS_SPEC)]
    torch_argv = [sys.executable, "-c", _MEASURE]
    static = json.loads(subprocess.run([*archc_argv, "--json", "--device", "cpu"], capture_output=True, text=True,
                                       check=True).stdout)["activations_bytes"]
    measured = int(subprocess.run(torch_argv, capture_output=True, text=True, env=env, check=True).stdout.split()[0])
    return {"archc": median_process(archc_argv, cfg.repeats, env), "torch": median_process(torch_argv, 2 if cfg.quick
                                                                                             else 3, env),
            "static": static, "measured": measured}


def gpu_step(spec: str, batch: int, dtype: str) -> dict:
    """Static figures against CUDA's allocator over an AdamW training step (after one warm-up step)."""
    import torch
    import torch.nn.functional as F

    import archc

    torch.cuda.empty_cache()  # the previous case's cached blocks would count as reserved here
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    report = archc.memory(spec_path(spec), batch=batch, dtype=dtype, optimizer="adamw").totals()
    graph = archc.analyze(spec_path(spec))
    model = archc.build(spec_path(spec), seed=0).to("cuda", torch_dtype).train()
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.randn(batch, *graph.input_shape, device="cuda", dtype=torch_dtype)

    def step() -> int:
        before = torch.cuda.memory_allocated()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        kept = torch.cuda.memory_allocated() - before - out.untyped_storage().nbytes()
        F.cross_entropy(out.float().flatten(1), torch.zeros(batch, dtype=torch.long, device="cuda")).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return kept

    step()  # the optimizer's state is made in the first step
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    kept = step() + x.untyped_storage().nbytes()  # the input is saved by the first layer, made before forward
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    reserved = torch.cuda.max_memory_reserved()
    return {"report": report, "kept": kept, "peak": peak, "reserved": reserved}


def section(cfg: Config, cases: list, results: list, cuda: bool) -> Section:
    result = Section("6. Memory")
    process, gpu = (results[0], results[1:]) if len(results) > len(cases) else (None, results)
    if process is not None:
        _process_table(result, process)
    else:
        result.notes.append(f"Whole-process measurement skipped: the run's spec selection left out {PROCESS_SPEC}.")
    if not cuda:
        result.notes.append("GPU comparison skipped: torch.cuda.is_available() is False on this machine.")
        return result
    table = Table("Static figures vs CUDA's allocator, AdamW training step (second step, after the optimizer's state "
                  "exists)", ["spec", "batch", "dtype", "saved activations (static)", "kept after forward (CUDA)",
                              "ratio", "total_train_bytes (static)", "max_memory_allocated", "ratio",
                              "max_memory_reserved"])
    for (spec, batch, dtype), row in zip(cases, gpu):
        if isinstance(row, Failed):
            table.rows.append([spec, batch, dtype, f"error: {row.error}", *[""] * 6])
            continue
        r = row["report"]
        table.rows.append([spec, batch, dtype, _gib(r["activations_bytes"]), _gib(row["kept"]),
                           fmt_ratio(r["activations_bytes"] / row["kept"]), _gib(r["total_train_bytes"]),
                           _gib(row["peak"]), fmt_ratio(r["total_train_bytes"] / row["peak"]), _gib(row["reserved"])])
    result.tables.append(table)
    result.notes += [
        "Kept after forward: memory_allocated after the forward minus before it, minus the output, plus the input "
        "(saved by the first layer): what backward will read, as CUDA's allocator holds it (512-byte rounding).",
        "max_memory_allocated also holds what no static count knows: backward's transient gradient buffers, "
        "cuDNN workspaces, AdamW's foreach temporaries; gradients grow while saved activations are freed, so the "
        "static sum can be above the peak. See docs/memory.md.",
    ]
    return result


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:.3f} GiB"


def _process_table(result: Section, row) -> None:
    name = f"`archc memory specs/{PROCESS_SPEC}.yaml`"
    if isinstance(row, Failed):
        result.targets.append(Target(f"{name} wall time", "error", "-", None, f"<= {WALL_GOAL_S:g} s", None))
        result.notes.append(f"Whole-process measurement failed: {row.error}")
        return
    archc_run, torch_run = row["archc"], row["torch"]
    table = Table("The activations saved for backward of DenseNet-121 at batch 1 (fresh process per run, median)",
                  ["how", "wall", "peak RSS", "activations_bytes"])
    table.rows += [[name, fmt_s(archc_run.wall_s), f"{archc_run.peak_rss_mib:.1f} MiB", f"{row['static']:,}"],
                   ["torchvision model, forward under saved_tensors_hooks + backward (CPU)", fmt_s(torch_run.wall_s),
                    f"{torch_run.peak_rss_mib:.0f} MiB", f"{row['measured']:,}"]]
    result.tables.append(table)
    result.targets.append(Target(f"{name} wall time", fmt_s(archc_run.wall_s), f"torch {fmt_s(torch_run.wall_s)}",
                                 torch_run.wall_s / archc_run.wall_s,
                                 f"<= {WALL_GOAL_S:g} s (ratio: torch / archc)", archc_run.wall_s <= WALL_GOAL_S))
    if row["static"] != row["measured"]:
        result.notes.append(f"The static and measured activations differ: {row['static']:,} vs {row['measured']:,}.")
