"""GPU: images/s and fraction of peak FLOP/s of archc's modules in torch and ONNX Runtime (CUDA only).

Skipped, and said so in RESULTS.md, when torch.cuda.is_available() is False. FLOPs are 2 x archc's
static MACs per image (torchvision's convention).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .common import Config, Failed, Job, Section, Table, interleaved, short_error, spec_path

SPECS = ["resnet50", "googlenet", "densenet121", "vgg16", "vit_b_16"]
BATCHES = [1, 64, 256]
QUICK_SPECS, QUICK_BATCHES = ["resnet50"], [1, 64]
VARIANTS = ["eager fp32 channels_last", "eager bf16 channels_last", "torch.compile bf16 channels_last",
            "ORT CUDA fp32 (IO binding)", "ORT TensorRT fp32 (IO binding)"]


def plan(cfg: Config):
    import torch

    if not torch.cuda.is_available():
        return [], lambda results: Section("5. GPU", notes=[
            "Skipped: torch.cuda.is_available() is False on this machine (no CUDA device)."])
    from archc.benchmark import peak_flops

    specs = cfg.select(SPECS, QUICK_SPECS)
    cases = [(spec, batch) for spec in specs for batch in (QUICK_BATCHES if cfg.quick else BATCHES)]
    jobs = [Job(f"gpu {spec} batch {batch}", lambda spec=spec, batch=batch: measure(spec, batch, cfg.repeats))
            for spec, batch in cases]
    name = torch.cuda.get_device_name(0)
    return jobs, lambda results: section(name, peak_flops(name), cases, results)


def measure(spec: str, batch: int, repeats: int) -> dict:
    """Seconds per batch of each variant (an exception in one variant is its result)."""
    import torch

    import archc
    from archc import runtime

    torch.backends.cudnn.benchmark = True  # let torch pick conv algorithms, as ONNX Runtime's CUDA provider does
    graph = archc.analyze(spec_path(spec))
    shape = graph.input_shape
    model = archc.build(spec_path(spec), seed=0).eval()
    x = torch.randn(batch, *shape, device="cuda")
    fp32 = model.to("cuda", memory_format=torch.channels_last)
    bf16 = archc.build(spec_path(spec), seed=0).eval().to("cuda", torch.bfloat16, memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    x_bf16 = x_cl.to(torch.bfloat16)

    def eager(module, inp):
        def call():
            with torch.inference_mode():
                return module(inp)
        return call

    builders = {
        VARIANTS[0]: lambda: eager(fp32, x_cl),
        VARIANTS[1]: lambda: eager(bf16, x_bf16),
        VARIANTS[2]: lambda: eager(torch.compile(bf16), x_bf16),
    }
    usable = runtime.usable()
    times: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory(prefix="archc-bench-") as folder:
        for variant, provider in ((VARIANTS[3], "cuda"), (VARIANTS[4], "tensorrt")):
            if usable[provider] is None:
                builders[variant] = lambda provider=provider: ort_call(model, x, shape, Path(folder), provider)
        for variant, make in builders.items():
            try:
                times[variant] = interleaved({variant: make()}, repeats, warmup=3, sync=torch.cuda.synchronize)[variant]
            except Exception as exc:  # a variant failing (no compiler for torch.compile, an unsupported op) is a result
                times[variant] = f"error: {short_error(exc)}"
    for variant in VARIANTS:
        if variant not in times:
            times[variant] = "not available: " + (usable["tensorrt"] if "TensorRT" in variant else usable["cuda"])
    return {"times": times, "macs": graph.total_macs}


def ort_call(model, x, shape, folder: Path, provider: str):
    """An ONNX Runtime call of `model`'s export on `provider`, input and outputs bound on the GPU."""
    import copy

    import numpy as np

    from archc import runtime
    from archc.onnx_export import export_module

    path = folder / f"{provider}-{x.shape[0]}.onnx"
    export_module(copy.deepcopy(model).cpu(), path, input_shape=shape, output_names=["output"],
                  batch=x.shape[0], check=False)
    session = runtime.session(path, provider)
    binding = session.io_binding()
    binding.bind_input("input", "cuda", 0, np.float32, list(x.shape), x.data_ptr())
    binding.bind_output("output", "cuda")
    return lambda: session.run_with_iobinding(binding)


def section(name: str, peak: float | None, cases: list, results: list) -> Section:
    """The GPU table; `peak` is the device's dense TF32 FLOP/s (bf16 counts twice that), None if unknown."""
    result = Section("5. GPU")
    table = Table(f"{name}: images/s (fraction of peak FLOP/s)", ["spec", "batch", *VARIANTS])
    for (spec, batch), row in zip(cases, results):
        if isinstance(row, Failed):
            table.rows.append([spec, batch, f"error: {row.error}"] + [""] * (len(VARIANTS) - 1))
            continue
        cells = []
        for variant in VARIANTS:
            value = row["times"][variant]
            if isinstance(value, str):
                cells.append(value)
                continue
            variant_peak = peak * (2 if "bf16" in variant else 1) if peak else None
            fraction = f" ({2 * row['macs'] * batch / value / variant_peak:.1%})" if variant_peak else ""
            cells.append(f"{batch / value:,.0f}{fraction}")
        table.rows.append([spec, batch, *cells])
    result.tables.append(table)
    result.notes += [
        f"Peak: {'%.0f TFLOP/s dense TF32 (archc.benchmark.peak_flops), twice that for bf16' % (peak / 1e12) if peak else 'unknown for this GPU, so no fractions'}.",
        "Each variant: 3 warm-up calls (torch.compile's compilation and ONNX Runtime's first-run allocations "
        "excluded), then the median of timed calls, synchronised with torch.cuda.synchronize.",
        "ONNX files are exported per batch size with a fixed batch (TensorRT builds one engine per shape). "
        "torch runs with cudnn.benchmark on; ONNX Runtime's CUDA provider searches conv algorithms by default.",
    ]
    return result
