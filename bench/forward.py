"""Forward: the built module vs its eager reference with the same weights, CPU, eval, no_grad."""

from __future__ import annotations

from .common import Config, Failed, Job, Section, Table, Target, fmt_ratio, fmt_s, interleaved, spec_path
from .references import reference_model

# (spec, batch, is a stated target)
CASES = [
    ("lenet5", 1, True), ("lenet5", 32, False),
    ("resnet18", 1, False), ("resnet18", 32, False),
    ("resnet50", 1, False), ("resnet50", 32, True),
    ("googlenet", 1, False), ("densenet121", 1, False), ("vgg16", 1, False),
    ("mobilenet_v3_large", 1, False), ("mobilenet_v3_large", 32, True),
    ("efficientnet_b0", 1, False), ("efficientnet_b0", 32, True),
    ("regnet_y_400mf", 1, False), ("regnet_y_400mf", 32, True),
    ("convnext_tiny", 1, True), ("vit_b_16", 1, True), ("swin_t", 1, True),
]
QUICK_CASES = [("lenet5", 1, True), ("resnet18", 1, False), ("resnet50", 8, False)]
GOAL = 0.98


def plan(cfg: Config):
    chosen = cfg.select(CASES, QUICK_CASES, key=lambda case: case[0])
    jobs = [Job(f"forward {spec} batch {batch}", lambda spec=spec, batch=batch: measure(spec, batch, cfg.repeats))
            for spec, batch, _ in chosen]
    return jobs, lambda results: section(cfg, chosen, results)


def paired(spec: str):
    """(archc's module, the reference) in eval mode, the reference's weights loaded into archc's."""
    import archc

    reference = reference_model(spec).eval()
    model = archc.build(spec_path(spec), seed=0).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    return model, reference


def measure(spec: str, batch: int, repeats: int) -> dict:
    import torch

    import archc

    model, reference = paired(spec)
    x = torch.randn(batch, *archc.analyze(spec_path(spec)).input_shape, generator=torch.Generator().manual_seed(0))

    def runner(module):
        def call():
            with torch.no_grad():
                return module(x)
        return call

    max_diff = (runner(model)() - runner(reference)()).abs().max().item()
    times = interleaved({"archc": runner(model), "reference": runner(reference)}, repeats)
    return {**times, "max_diff": max_diff}


def section(cfg: Config, cases: list, results: list) -> Section:
    result = Section("3. Forward (CPU)")
    table = Table(f"Eval forward, same weights, {cfg.threads} threads (median of >= {cfg.repeats}, alternating, "
                  "warm-up excluded)",
                  ["spec", "batch", "reference", "archc img/s", "reference img/s", "archc / reference",
                   "archc per call", "max |diff|"])
    for (spec, batch, is_target), row in zip(cases, results):
        name = "hand-written nn.Sequential" if spec == "lenet5" else "torchvision"
        if isinstance(row, Failed):
            table.rows.append([spec, batch, name, f"error: {row.error}", "", "", "", ""])
            if is_target:
                result.targets.append(Target(f"forward {spec} batch {batch}: archc vs {name}", "error", "-", None,
                                             f"throughput archc / reference >= {GOAL:g}", None))
            continue
        ratio = row["reference"] / row["archc"]  # throughput ratio
        table.rows.append([spec, batch, name, f"{batch / row['archc']:,.1f}", f"{batch / row['reference']:,.1f}",
                           fmt_ratio(ratio), fmt_s(row["archc"]), f"{row['max_diff']:.1e}"])
        if is_target:
            result.targets.append(Target(f"forward {spec} batch {batch}: archc vs {name}",
                                         f"{batch / row['archc']:,.1f} img/s", f"{batch / row['reference']:,.1f} img/s",
                                         ratio, f"throughput archc / reference >= {GOAL:g}", ratio >= GOAL))
    result.tables.append(table)
    result.notes += [
        "Both modules run under torch.no_grad() in eval mode on the same input tensor; the reference's "
        "state_dict is loaded into archc's module (strict), and 'max |diff|' compares their outputs.",
        "The LeNet-5 reference is written by hand (bench/references.py) with the spec's module names; at "
        "batch 1 it shows per-call Python overhead, which archc's generated straight-line forward must not add.",
        "Fast calls are repeated within one sample (about 20 ms per sample) and divided.",
    ]
    return result
