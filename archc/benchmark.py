"""Latency and throughput of one module's weights in torch eager, torch.compile and ONNX Runtime.

Each runtime is timed in a fresh process of its own (`python -m archc.benchmark`), on the same
saved weights and the same input: torch.compile's compile workers and ONNX Runtime's thread pool
then cannot slow the other runtimes down. Each gets warm-up calls (excluded: they include
torch.compile's compilation and ONNX Runtime's first-run allocations), then `repeats` timed
calls; the median is reported.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
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


def _onnxruntime_call(module, x, input_shape, workdir: Path, device: str, threads: int | None):
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
    session = runtime.session(path, runtime.choose("cuda" if device == "cuda" else "cpu"), threads=threads)
    if device != "cuda":
        feed = {"input": x.cpu().numpy()}
        return lambda: session.run(None, feed)
    binding = session.io_binding()  # keep data on the GPU, as torch does
    binding.bind_input("input", "cuda", 0, np.float32, list(x.shape), x.data_ptr())
    for output in session.get_outputs():
        binding.bind_output(output.name, "cuda")
    return lambda: session.run_with_iobinding(binding)


class _NoCudaHomeNotice(logging.Filter):
    """torch.compile's C++ toolchain lookup warns "No CUDA runtime is found" on CPU-only machines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No CUDA runtime is found" not in record.getMessage()


def measure(module, input_shape, name: str, *, device: str = "cpu", batch: int = 8, repeats: int = 20,
            warmup: int = 3, threads: int | None = None, step: Callable[[], None] = lambda: None) -> Result:
    """Time `module` (eval mode) in runtime `name`, in this process; a failing runtime is a Result too."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    module = module.eval().to(device)
    x = torch.randn(batch, *input_shape, device=device, generator=torch.Generator(device).manual_seed(0))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory(prefix="archc-bench-") as workdir:
        try:
            if name == "torch":
                call = _torch_call(module, x)
            elif name == "compile":
                logging.getLogger("torch.utils.cpp_extension").addFilter(_NoCudaHomeNotice())
                call = _torch_call(torch.compile(module), x)
            else:
                call = _onnxruntime_call(module, x, input_shape, Path(workdir), device, threads)
            return Result(name, batch, time_calls(call, warmup, repeats, sync, step))
        except Exception as exc:  # one runtime failing (no C++ compiler, an unsupported op) is a result
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return Result(name, batch, None, f"{type(exc).__name__}: {first}")


def bench(module, input_shape, *, runtimes=RUNTIMES, device: str = "cpu", batch: int = 8, repeats: int = 20,
          warmup: int = 3, threads: int | None = None, step: Callable[[str], None] = lambda name: None) -> list[Result]:
    """Time an archc-built `module` in each runtime, each in a fresh process; `step(runtime)` after every call."""
    from .saving import save

    with tempfile.TemporaryDirectory(prefix="archc-bench-") as workdir:
        model = Path(workdir) / "model.pt"
        save(module.cpu(), model)
        job = {"model": str(model), "input_shape": list(input_shape), "device": device, "batch": batch,
               "repeats": repeats, "warmup": warmup, "threads": threads}
        return [_isolated({**job, "runtime": name}, lambda name=name: step(name)) for name in runtimes]


def _isolated(job: dict, step: Callable[[], None]) -> Result:
    """Run `measure` for one runtime in a fresh `python -m archc.benchmark` and read back its Result."""
    package_root = str(Path(__file__).resolve().parents[1])  # the child imports this very archc
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    result = None
    with tempfile.TemporaryFile("w+") as errors:
        with subprocess.Popen([sys.executable, "-m", "archc.benchmark", json.dumps(job)], stdout=subprocess.PIPE,
                              stderr=errors, text=True, env=env) as child:
            for line in child.stdout:
                if line == "step\n":
                    step()
                elif line.startswith("result "):
                    result = Result(**json.loads(line.removeprefix("result ")))
        if result is None:
            errors.seek(0)
            last = next((s for s in reversed(errors.read().splitlines()) if s.strip()), "no output")
            result = Result(job["runtime"], job["batch"], None, f"its process exited with {child.returncode}: {last}")
    return result


def _child(job: dict) -> None:
    """`python -m archc.benchmark JOB`: load the saved model, time one runtime, print 'step' lines and the result."""
    from .saving import load

    model = load(job.pop("model"))
    name, shape = job.pop("runtime"), tuple(job.pop("input_shape"))
    result = measure(model, shape, name, step=lambda: print("step", flush=True), **job)
    print("result " + json.dumps(asdict(result)), flush=True)


def load_average() -> float | None:
    """The 1-minute load average, where the system has one (not on Windows)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def busy_warning(load_at_start: float | None, load_at_end: float | None, threads: int) -> str | None:
    """A warning when other processes kept the cores busy: a 1-minute load average of at least 0.5 per
    core before the run, or above the run's own threads at its end (None where there is no load average)."""
    if load_at_start is None or load_at_end is None:
        return None
    cores = usable_cores()
    others = max(load_at_start, load_at_end - threads)
    if others < 0.5 * cores:
        return None
    return (f"the machine was busy (about {others:.1f} runnable processes besides this run on {cores} cores): "
            "their work is in these numbers; rerun on a quiet machine before trusting them.")


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
