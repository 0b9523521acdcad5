"""Static shapes: archc.analyze vs torchinfo.summary and a meta-device forward; `archc shapes` as a process."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

from .common import (Config, Failed, Job, Section, Table, Target, fmt_ratio, fmt_s, interleaved,
                     bundled_specs, median_process, spec_path)
from .references import TORCHVISION, torchvision_model

HEADLINE_SPEC = "densenet201"   # the in-process target
PROCESS_SPEC = "densenet121"    # the whole-process target
SPEEDUP_GOAL = 10.0
WALL_GOAL_S = 0.2
RSS_GOAL_MIB = 80.0


QUICK_SPECS = ["lenet5", "resnet18", "densenet121", "densenet201"]


def plan(cfg: Config):
    chosen = cfg.select(bundled_specs(), QUICK_SPECS)
    jobs = [Job(f"shapes {spec}", lambda spec=spec: in_process(spec, cfg.repeats)) for spec in chosen]
    if PROCESS_SPEC in chosen:
        jobs.append(Job(f"archc shapes {PROCESS_SPEC} as a process", lambda: whole_process(cfg)))
    return jobs, lambda results: section(cfg, chosen, results)


def in_process(spec: str, repeats: int) -> dict:
    import archc

    path = spec_path(spec)
    graph = archc.analyze(path)
    calls = {"archc": lambda: archc.analyze(path)}
    if spec in TORCHVISION:
        import torch
        import torchinfo

        size = (1, *graph.input_shape)
        model = torchvision_model(spec).eval()
        # moved, not built there: torchvision's RegNet builders read their stage table back from tensors
        meta = copy.deepcopy(model).to("meta")
        meta_input = torch.empty(size, device="meta")

        def meta_forward():
            with torch.no_grad():
                meta(meta_input)

        calls["torchinfo"] = lambda: torchinfo.summary(model, input_size=size, verbose=0)
        calls["meta"] = meta_forward
    times = interleaved(calls, repeats)
    return {"layers": len(graph.nodes), **times}


def _python_bin(name: str) -> str:
    """A console script installed beside this Python (not a pyenv shim, which adds a shell and a Python)."""
    return str(Path(sys.executable).parent / name)


def whole_process(cfg: Config) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads)}
    python = sys.executable
    torchinfo_script = ("import torchvision, torchinfo; "
                        f"torchinfo.summary(torchvision.models.{PROCESS_SPEC}(weights=None), input_size=(1, 3, 224, 224))")
    commands = {
        "python3 -c pass": ([python, "-c", "pass"], cfg.repeats),
        'python3 -c "import yaml, jsonschema"': ([python, "-c", "import yaml, jsonschema"], cfg.repeats),
        f"archc shapes specs/{PROCESS_SPEC}.yaml": ([_python_bin("archc"), "shapes", spec_path(PROCESS_SPEC)], cfg.repeats),
        f"torchinfo summary of torchvision {PROCESS_SPEC}": ([python, "-c", torchinfo_script], 2 if cfg.quick else 5),
    }
    return {label: (median_process(argv, repeats, env), repeats) for label, (argv, repeats) in commands.items()}


def section(cfg: Config, specs: list[str], results: list) -> Section:
    result = Section("1. Static shapes")
    per_spec = results[:len(specs)]
    table = Table(f"In-process shape inference (median of >= {cfg.repeats}, warm-up excluded)",
                  ["spec", "layers", "archc.analyze", "torchinfo.summary", "speedup vs torchinfo",
                   "meta-device forward", "speedup vs meta"])
    for spec, row in zip(specs, per_spec):
        if isinstance(row, Failed):
            table.rows.append([spec, f"error: {row.error}", "", "", "", "", ""])
            if spec == HEADLINE_SPEC:
                result.targets.append(Target(f"shapes in-process, {spec}", "error", "-", None,
                                             f"torchinfo time / archc time >= {SPEEDUP_GOAL:g}", None))
            continue
        archc_s, info_s, meta_s = row["archc"], row.get("torchinfo"), row.get("meta")
        table.rows.append([spec, row["layers"], fmt_s(archc_s), fmt_s(info_s),
                           fmt_ratio(info_s / archc_s if info_s else None), fmt_s(meta_s),
                           fmt_ratio(meta_s / archc_s if meta_s else None)])
        if spec == HEADLINE_SPEC and info_s:
            ratio = info_s / archc_s
            result.targets.append(Target(
                f"shapes in-process, {spec}: archc.analyze vs torchinfo.summary", fmt_s(archc_s), fmt_s(info_s),
                ratio, f"torchinfo time / archc time >= {SPEEDUP_GOAL:g}", ratio >= SPEEDUP_GOAL))
    result.tables.append(table)
    result.notes += [
        "archc.analyze reads, validates and shape-infers the YAML file on every call (parameters and MACs "
        "included); torchinfo.summary (real CPU forward at batch 1, the spec's input size, verbose=0) and "
        "the meta-device forward get their torchvision model built once before timing, which favours them.",
        "Specs without a torchvision model (the seeds' networks) have no reference here; their equivalence "
        "is proved in tests/test_zoo_*.py.",
    ]
    if HEADLINE_SPEC not in specs:
        result.notes.append(f"The in-process target is on {HEADLINE_SPEC}, which this run did not include.")
    if PROCESS_SPEC in specs:
        _process_table(result, results[-1])
    else:
        result.notes.append(f"Whole-process measurement skipped: it runs `archc shapes specs/{PROCESS_SPEC}.yaml`, "
                            "which this run's spec selection left out.")
    return result


def _process_table(result: Section, runs) -> None:
    table = Table("Whole process (fresh process per run, median wall time and median peak RSS)",
                  ["command", "runs", "wall", "peak RSS"])
    if isinstance(runs, Failed):
        table.rows.append(["(all)", "", f"error: {runs.error}", ""])
        result.tables.append(table)
        result.targets.append(Target(f"`archc shapes specs/{PROCESS_SPEC}.yaml` wall time and peak RSS", "error",
                                     "-", None, f"<= {WALL_GOAL_S:g} s and <= {RSS_GOAL_MIB:g} MiB", None))
        return
    for label, (run, count) in runs.items():
        table.rows.append([f"`{label}`", count, fmt_s(run.wall_s), f"{run.peak_rss_mib:.1f} MiB"])
    result.tables.append(table)
    archc_run, _ = next(v for k, v in runs.items() if k.startswith("archc shapes"))
    info_run, _ = next(v for k, v in runs.items() if k.startswith("torchinfo"))
    name = f"`archc shapes specs/{PROCESS_SPEC}.yaml`"
    result.targets += [
        Target(f"{name} wall time", fmt_s(archc_run.wall_s), f"torchinfo script {fmt_s(info_run.wall_s)}",
               info_run.wall_s / archc_run.wall_s, f"<= {WALL_GOAL_S:g} s (ratio: torchinfo / archc)",
               archc_run.wall_s <= WALL_GOAL_S),
        Target(f"{name} peak RSS", f"{archc_run.peak_rss_mib:.1f} MiB", f"torchinfo script {info_run.peak_rss_mib:.0f} MiB",
               info_run.peak_rss_mib / archc_run.peak_rss_mib, f"<= {RSS_GOAL_MIB:g} MiB (ratio: torchinfo / archc)",
               archc_run.peak_rss_mib <= RSS_GOAL_MIB),
    ]
    result.notes.append("Peak RSS is wait4's ru_maxrss of each child process itself; processes run with "
                        "OMP_NUM_THREADS set to the run's thread count, output discarded. `archc` is the console "
                        "script beside this Python, not a pyenv shim.")
