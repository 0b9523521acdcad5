"""Build: archc.build (YAML to initialised nn.Module) vs torchvision's constructor of the same architecture."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .common import Config, Failed, Job, Section, Table, Target, fmt_ratio, fmt_s, interleaved, spec_path
from .references import torchvision_model

SPECS = ["resnet18", "resnet50", "densenet121", "vgg16", "googlenet"]
QUICK_SPECS = ["resnet18", "googlenet"]
GOAL = 1.1
_KAIMING_OUT = {"kaiming_normal": {"mode": "fan_out", "nonlinearity": "relu"}}
_BN = {"weight": 1, "bias": 0}
TORCHVISION_INIT = {  # torchvision's re-initialisation, written as an archc `init:` section
    "resnet": {"conv": {"weight": _KAIMING_OUT}, "batchnorm": _BN},
    "vgg": {"conv": {"weight": _KAIMING_OUT, "bias": 0}, "batchnorm": _BN,
            "linear": {"weight": {"normal": {"mean": 0, "std": 0.01}}, "bias": 0}},
    "densenet": {"conv": {"weight": "kaiming_normal"}, "batchnorm": _BN, "linear": {"bias": 0}},
    "googlenet": {kind: {"weight": {"trunc_normal": {"mean": 0, "std": 0.01, "a": -2, "b": 2}}}
                  for kind in ("conv", "linear")} | {"batchnorm": _BN},
}


def plan(cfg: Config):
    chosen = cfg.select(SPECS, QUICK_SPECS)
    jobs = [Job(f"build {spec}", lambda spec=spec: measure(spec, cfg.repeats)) for spec in chosen]
    return jobs, lambda results: section(cfg, chosen, results)


def with_torchvision_init(spec: str, folder: Path) -> str:
    """A spec file extending `spec` with torchvision's initialisation as its `init:` section."""
    family = next(f for f in TORCHVISION_INIT if spec.startswith(f))
    path = folder / f"{spec}_torchvision_init.yaml"
    path.write_text(json.dumps({"extends": spec_path(spec), "init": TORCHVISION_INIT[family]}))  # JSON is YAML
    return str(path)


def measure(spec: str, repeats: int) -> dict:
    import archc

    path = spec_path(spec)
    archc_params = sum(p.numel() for p in archc.build(path).parameters())
    torchvision_params = sum(p.numel() for p in torchvision_model(spec).parameters())
    if archc_params != torchvision_params:
        raise AssertionError(f"{spec}: archc builds {archc_params:,} parameters, torchvision {torchvision_params:,}")
    with tempfile.TemporaryDirectory(prefix="archc-bench-") as folder:
        same_init = with_torchvision_init(spec, Path(folder))
        return interleaved({
            "archc": lambda: archc.build(path),
            "archc_same_init": lambda: archc.build(same_init),
            "torchvision": lambda: torchvision_model(spec),
            "analyze": lambda: archc.analyze(path),
        }, repeats)


def section(cfg: Config, specs: list[str], results: list) -> Section:
    result = Section("2. Build")
    table = Table(f"Module construction (median of >= {cfg.repeats}, alternating, warm-up excluded)",
                  ["spec", "archc.build (torch default init)", "of which analyze",
                   "archc.build (torchvision's init)", "torchvision constructor", "time archc / torchvision",
                   "time archc / torchvision, same init"])
    for spec, row in zip(specs, results):
        if isinstance(row, Failed):
            table.rows.append([spec, f"error: {row.error}", "", "", "", "", ""])
            result.targets.append(Target(f"build {spec}", "error", "-", None, f"archc time / torchvision time <= {GOAL:g}",
                                         None))
            continue
        ratio = row["archc_same_init"] / row["torchvision"]
        table.rows.append([spec, fmt_s(row["archc"]), fmt_s(row["analyze"]), fmt_s(row["archc_same_init"]),
                           fmt_s(row["torchvision"]), fmt_ratio(row["archc"] / row["torchvision"]), fmt_ratio(ratio)])
        result.targets.append(Target(f"build {spec}: archc.build (torchvision's init) vs torchvision",
                                     fmt_s(row["archc_same_init"]), fmt_s(row["torchvision"]), ratio,
                                     f"archc time / torchvision time <= {GOAL:g}", ratio <= GOAL))
    result.tables.append(table)
    result.notes += [
        "archc.build's time covers the whole path from the YAML file: reading, validation, shape inference "
        "(the 'of which analyze' column, timed on its own), module construction and initialisation.",
        "Initialisation: torchvision's constructors (weights=None) run torch's default init in every layer, "
        "then re-initialise (ResNet, VGG, DenseNet: kaiming_normal convs, constant batch norms, normal/zero "
        "linear layers; GoogLeNet: trunc_normal convs and linears). The bundled specs declare no `init:` "
        "section, so plain archc.build keeps torch's default init: less work than torchvision. The target "
        "therefore uses 'torchvision's init': the spec extended with an `init:` section giving torchvision's "
        "scheme (archc then skips torch's default init where the rule sets every parameter, which torchvision "
        "cannot). Both sides build the same parameter count (checked before timing).",
    ]
    return result
