"""Build: archc.build (YAML to initialised nn.Module) vs torchvision's constructor of the same architecture."""

from __future__ import annotations

from archc.init import SKIP_DEFAULT_INIT_FROM

from .common import Config, Failed, Job, Section, Table, Target, fmt_ratio, fmt_s, interleaved, spec_path
from .references import torchvision_model

SPECS = ["resnet18", "resnet50", "densenet121", "vgg16", "googlenet", "mobilenet_v3_large", "efficientnet_b0",
         "regnet_y_400mf", "convnext_tiny", "vit_b_16", "swin_t"]
QUICK_SPECS = ["resnet18", "googlenet"]
GOAL = 1.1


def plan(cfg: Config):
    chosen = cfg.select(SPECS, QUICK_SPECS)
    jobs = [Job(f"build {spec}", lambda spec=spec: measure(spec, cfg.repeats)) for spec in chosen]
    return jobs, lambda results: section(cfg, chosen, results)


def measure(spec: str, repeats: int) -> dict:
    import archc

    path = spec_path(spec)
    archc_params = sum(p.numel() for p in archc.build(path).parameters())
    torchvision_params = sum(p.numel() for p in torchvision_model(spec).parameters())
    if archc_params != torchvision_params:
        raise AssertionError(f"{spec}: archc builds {archc_params:,} parameters, torchvision {torchvision_params:,}")
    times = interleaved({
        "archc": lambda: archc.build(path),
        "torchvision": lambda: torchvision_model(spec),
        "analyze": lambda: archc.analyze(path),
    }, repeats)
    return {**times, "init": ", ".join(archc.load_spec(path).get("init") or {}) or "none (torch defaults)"}


def section(cfg: Config, specs: list[str], results: list) -> Section:
    result = Section("2. Build")
    table = Table(f"Module construction (median of >= {cfg.repeats}, alternating, warm-up excluded)",
                  ["spec", "archc.build", "of which analyze", "torchvision constructor", "time archc / torchvision",
                   "spec's init: rules for"])
    for spec, row in zip(specs, results):
        if isinstance(row, Failed):
            table.rows.append([spec, f"error: {row.error}", "", "", "", ""])
            result.targets.append(Target(f"build {spec}", "error", "-", None,
                                         f"archc time / torchvision time <= {GOAL:g}", None))
            continue
        ratio = row["archc"] / row["torchvision"]
        table.rows.append([spec, fmt_s(row["archc"]), fmt_s(row["analyze"]), fmt_s(row["torchvision"]),
                           fmt_ratio(ratio), row["init"]])
        result.targets.append(Target(f"build {spec}: archc.build vs torchvision", fmt_s(row["archc"]),
                                     fmt_s(row["torchvision"]), ratio, f"archc time / torchvision time <= {GOAL:g}",
                                     ratio <= GOAL))
    result.tables.append(table)
    result.notes += [
        "archc.build's time covers the whole path from the YAML file: reading, validation, shape inference "
        "(the 'of which analyze' column, timed on its own), module construction and initialisation.",
        "Same initialisation: each spec's `init:` section declares torchvision's scheme (ResNet, VGG, "
        "DenseNet: kaiming_normal convs, constant batch norms, normal/zero linear layers; GoogLeNet: "
        "trunc_normal convs and linears). One difference in work: torchvision runs torch's default init in "
        "every layer and then re-initialises; archc skips the default draws of large layers (>= "
        f"{SKIP_DEFAULT_INIT_FROM:,} parameters) whose weight has a rule (made on the meta device, then allocated; a bias without a "
        "rule still gets torch's default). Both sides build the same parameter "
        "count (checked before timing).",
        "Timed builds are not a process's first: archc keeps, per process, each file's parse (keyed by path and "
        "text) and one meta-device prototype per distinct layer, both made by the untimed warm-up build; a "
        "process's first build also pays those (about 3-5 ms of YAML and 0.3 ms per distinct layer).",
    ]
    return result
