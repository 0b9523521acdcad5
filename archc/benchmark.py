"""Latency and throughput of one module's weights in torch eager, torch.compile and ONNX Runtime.

Each runtime gets warm-up calls (excluded: they include torch.compile's compilation and ONNX
Runtime's first-run allocations), then `repeats` timed calls; the median is reported.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

RUNTIMES = ("torch", "compile", "onnxruntime")

PEAK_TF32_TFLOPS = {  # dense tensor-core TF32 peaks; torch and ONNX Runtime use TF32 for convs by default
    "H200": 494.7, "H100 PCIe": 378.0, "H100": 494.7, "A100": 156.0, "L40S": 183.0, "L40": 90.5,
    "L4": 60.0, "A10": 62.5, "RTX 4090": 82.6, "V100": 15.7, "T4": 8.1,
}


@dataclass
class Result:
    runtime: str
    batch: int
    latency_s: float | None  # median seconds per batch; None when the runtime failed
    error: str | None = None

    @property
    def throughput(self) -> float | None:
        """Samples (images) per second."""
        return self.batch / self.latency_s if self.latency_s else None

    def flops_fraction(self, macs_per_sample: int, peak_flops: float | None) -> float | None:
        """Achieved FLOP/s (2 x MACs per sample x batch / latency) as a fraction of `peak_flops`."""
        if not (self.latency_s and peak_flops):
            return None
        return 2 * macs_per_sample * self.batch / self.latency_s / peak_flops


def peak_flops(device_name: str) -> float | None:
    """The TF32 peak FLOP/s of a known NVIDIA GPU, or None."""
    for key, tflops in PEAK_TF32_TFLOPS.items():  # ordered so "H100 PCIe" is tried before "H100", "L40" before "L4"
        if key in device_name:
            return tflops * 1e12
    return None


def parse_runtimes(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown or not names:
        raise ValueError(f"unknown runtime {', '.join(unknown) or '(none)'}; choose from {', '.join(RUNTIMES)}")
    return names


def time_calls(call: Callable[[], object], warmup: int, repeats: int, sync: Callable[[], None],
               step: Callable[[], None] = lambda: None) -> float:
    """Median seconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
        step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
        step()
    return statistics.median(times)


def _torch_call(module, x):
    import torch

    def call():
        with torch.inference_mode():
            return module(x)
    return call


def _onnxruntime_call(module, x, input_shape, workdir: Path, device: str):
    import copy

    import numpy as np
    import torch

    from . import runtime
    from .onnx_export import export_module, flat_outputs

    with torch.inference_mode():
        count = len(flat_outputs(module(x)))
    path = workdir / "model.onnx"
    export_module(copy.deepcopy(module).cpu(), path, input_shape=input_shape, output_names=[f"output{i}" for i in range(count)],
                  batch=x.shape[0], check=False)
    session = runtime.session(path, runtime.choose("cuda" if device == "cuda" else "cpu"))
    if device != "cuda":
        feed = {"input": x.cpu().numpy()}
        return lambda: session.run(None, feed)
    binding = session.io_binding()  # keep data on the GPU, as torch does
    binding.bind_input("input", "cuda", 0, np.float32, list(x.shape), x.data_ptr())
    for output in session.get_outputs():
        binding.bind_output(output.name, "cuda")
    return lambda: session.run_with_iobinding(binding)


def bench(module, input_shape, *, runtimes=RUNTIMES, device: str = "cpu", batch: int = 8, repeats: int = 20,
          warmup: int = 3, step: Callable[[str], None] = lambda name: None) -> list[Result]:
    """Time `module` (eval mode, same weights) in each runtime; `step(runtime)` after every call."""
    import torch

    module = module.eval().to(device)
    x = torch.randn(batch, *input_shape, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    results = []
    with tempfile.TemporaryDirectory(prefix="archc-bench-") as workdir:
        for name in runtimes:
            try:
                if name == "torch":
                    call = _torch_call(module, x)
                elif name == "compile":
                    call = _torch_call(torch.compile(module), x)
                else:
                    call = _onnxruntime_call(module, x, input_shape, Path(workdir), device)
                latency = time_calls(call, warmup, repeats, sync, lambda: step(name))
                results.append(Result(name, batch, latency))
            except Exception as exc:  # one runtime failing (no C++ compiler, an unsupported op) is a result
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                results.append(Result(name, batch, None, f"{type(exc).__name__}: {first}"))
    return results
