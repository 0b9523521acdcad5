"""ONNX: export time of every bundled spec; ONNX Runtime (CPU) on archc's export vs torchvision's vs torch eager."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .common import (Config, Failed, Job, Section, Table, Target, bundled_specs, fmt_ratio, fmt_s, interleaved,
                     spec_path)

RUNTIME_SPECS = ["resnet18", "googlenet", "densenet121"]
QUICK_EXPORT_SPECS = ["lenet5", "resnet18"]
QUICK_RUNTIME_SPECS = ["resnet18"]
BATCH = 8
GOAL = 0.98


def plan(cfg: Config):
    exports = cfg.select(bundled_specs(), QUICK_EXPORT_SPECS)
    runtimes = cfg.select(RUNTIME_SPECS, QUICK_RUNTIME_SPECS)
    jobs = [Job("export warm-up (lenet5, untimed)", lambda: export_time("lenet5"))]
    jobs += [Job(f"export {spec}", lambda spec=spec: export_time(spec)) for spec in exports]
    jobs += [Job(f"onnxruntime {spec} batch {BATCH}", lambda spec=spec: runtime_comparison(spec, cfg))
             for spec in runtimes]
    return jobs, lambda results: section(cfg, exports, runtimes, results[1:])


def export_time(spec: str) -> dict:
    """One `archc.export_onnx` (build + torch.onnx.export + save), parity check off."""
    import archc

    with tempfile.TemporaryDirectory(prefix="archc-bench-") as folder:
        start = time.perf_counter()
        report = archc.export_onnx(spec_path(spec), Path(folder) / f"{spec}.onnx", check=False)
        total = time.perf_counter() - start
    return {"total": total, "exporter": report.seconds, "size": report.size + report.data_size}


def session(path: Path, threads: int):
    """An ONNX Runtime CPU session with `threads` intra-op threads (archc.runtime names the provider)."""
    import onnxruntime

    from archc.runtime import PROVIDERS

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=[PROVIDERS["cpu"]])


def runtime_comparison(spec: str, cfg: Config) -> dict:
    """archc's and torchvision's modules (same weights) exported the same way, run on ONNX Runtime and eager."""
    import torch

    from archc.onnx_export import export_module

    from .forward import paired

    model, reference = paired(spec)
    shape = tuple(model.archc_spec["input_shape"])
    x = torch.randn(BATCH, *shape, generator=torch.Generator().manual_seed(0))
    feed = {"input": x.numpy()}
    with tempfile.TemporaryDirectory(prefix="archc-bench-") as folder:
        seconds, sessions = {}, {}
        for name, module in (("archc", model), ("torchvision", reference)):
            path = Path(folder) / f"{name}.onnx"
            start = time.perf_counter()
            export_module(module, path, input_shape=shape, output_names=["output"], check=False)
            seconds[name] = time.perf_counter() - start
            sessions[name] = session(path, cfg.threads)

    def eager(module):
        def call():
            with torch.no_grad():
                return module(x)
        return call

    archc_out = sessions["archc"].run(None, feed)[0]
    max_diff = float(abs(archc_out - sessions["torchvision"].run(None, feed)[0]).max())
    times = interleaved({
        "archc_ort": lambda: sessions["archc"].run(None, feed),
        "torchvision_ort": lambda: sessions["torchvision"].run(None, feed),
        "archc_eager": eager(model),
        "torchvision_eager": eager(reference),
    }, cfg.repeats)
    return {**times, "export_archc": seconds["archc"], "export_torchvision": seconds["torchvision"],
            "max_diff": max_diff}


def section(cfg: Config, exports: list[str], runtimes: list[str], results: list) -> Section:
    result = Section("4. ONNX")
    table = Table("Export time (`archc.export_onnx`, one run each, parity check off)",
                  ["spec", "total (build + export + save)", "exporter", "file size"])
    for spec, row in zip(exports, results):
        if isinstance(row, Failed):
            table.rows.append([spec, f"error: {row.error}", "", ""])
            continue
        table.rows.append([spec, fmt_s(row["total"]), fmt_s(row["exporter"]), f"{row['size'] / 2 ** 20:.1f} MiB"])
    result.tables.append(table)
    table = Table(f"ONNX Runtime (CPU provider, {cfg.threads} intra-op threads) vs torch eager, batch {BATCH}, "
                  f"same weights (median of >= {cfg.repeats}, alternating)",
                  ["spec", "ORT archc img/s", "ORT torchvision img/s", "archc / torchvision (ORT)",
                   "eager archc img/s", "eager torchvision img/s", "ORT speed-up archc", "ORT speed-up torchvision",
                   "export archc", "export torchvision", "max |diff| ORT"])
    for spec, row in zip(runtimes, results[len(exports):]):
        if isinstance(row, Failed):
            table.rows.append([spec, f"error: {row.error}"] + [""] * 9)
            result.targets.append(Target(f"ONNX Runtime {spec} batch {BATCH}: archc's export vs torchvision's", "error",
                                         "-", None, f"throughput archc / torchvision >= {GOAL:g}", None))
            continue
        ips = {k: BATCH / row[k] for k in ("archc_ort", "torchvision_ort", "archc_eager", "torchvision_eager")}
        ratio = ips["archc_ort"] / ips["torchvision_ort"]
        table.rows.append([spec, f"{ips['archc_ort']:,.1f}", f"{ips['torchvision_ort']:,.1f}", fmt_ratio(ratio),
                           f"{ips['archc_eager']:,.1f}", f"{ips['torchvision_eager']:,.1f}",
                           fmt_ratio(ips["archc_ort"] / ips["archc_eager"]),
                           fmt_ratio(ips["torchvision_ort"] / ips["torchvision_eager"]),
                           fmt_s(row["export_archc"]), fmt_s(row["export_torchvision"]), f"{row['max_diff']:.1e}"])
        result.targets.append(Target(f"ONNX Runtime {spec} batch {BATCH}: archc's export vs torchvision's",
                                     f"{ips['archc_ort']:,.1f} img/s", f"{ips['torchvision_ort']:,.1f} img/s", ratio,
                                     f"throughput archc / torchvision >= {GOAL:g}", ratio >= GOAL))
    result.tables.append(table)
    result.notes += [
        "Export times are single runs after an untimed warm-up export (the first export in a process pays "
        "for importing and initialising torch's exporter). `archc export` also verifies parity on ONNX "
        "Runtime by default; that check is off here (the test suite runs it for every spec).",
        "Both ONNX files come from `archc.onnx_export.export_module` (torch.onnx.export with dynamo=True, "
        "dynamic batch, default opset, eval mode), so only the module differs; archc's module holds "
        "torchvision's weights, and 'max |diff| ORT' compares the two files' outputs.",
    ]
    return result
