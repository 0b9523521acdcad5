"""`archc bench`: every runtime measured on the same weights, a table of ratios, clean usage errors."""

from __future__ import annotations

import json

import pytest
import torch
from rich.console import Console

import archc
from archc import benchmark
from archc.cli import run
from archc.cli.export import _bench_table
from archc.pipeline import analyze

torch.set_num_threads(1)

TINY = """\
name: tiny
input: [3, 8, 8]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - relu
  - adaptive_avgpool: {out: 1}
  - flatten
  - linear: {out: 3}
"""


def test_bench_table_has_a_row_per_runtime_with_ratios(write_spec, capsys):
    spec = write_spec(TINY)
    code = run(["bench", str(spec), "--device", "cpu", "--runtime", "torch,onnxruntime",
                "--batch", "2", "--repeats", "2", "--warmup", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "tiny on CPU, batch 2, median of 2" in out and "images/s" in out
    rows = [line for line in out.splitlines() if line.strip("| ").startswith(("torch", "onnxruntime"))]
    assert len(rows) == 2 and all("x" in row for row in rows) and "1.00x" in rows[0]
    assert "failed" not in out and out.isascii()  # piped: an ASCII table


def test_time_calls_excludes_warmup_and_takes_the_median():
    calls = []
    durations = iter([0.0, 0.0, 0.001, 0.05, 0.002])  # two warm-ups (ignored), then three timed calls

    def call():
        import time
        calls.append(1)
        time.sleep(next(durations))

    median = benchmark.time_calls(call, warmup=2, repeats=3, sync=lambda: None)
    assert len(calls) == 5 and 0.002 <= median < 0.04


def test_flops_fraction_uses_two_flops_per_mac():
    result = benchmark.Result("torch", batch=4, latency_s=0.5)
    assert result.throughput == 8
    assert result.flops_fraction(macs_per_sample=1e9, peak_flops=16e9) == pytest.approx(2 * 1e9 * 4 / 0.5 / 16e9)
    assert benchmark.peak_flops("NVIDIA H100 PCIe") == 378e12 and benchmark.peak_flops("Mystery GPU") is None
    assert benchmark.peak_flops("NVIDIA L40") == 90.5e12 and benchmark.peak_flops("NVIDIA L4") == 60e12


def _render(table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_gpu_table_reports_images_per_second_and_fraction_of_peak():
    graph = analyze(TINY)
    macs = 4 * 8 * 8 * 3 * 3 * 3 + 4 * 3  # the conv and the linear layer, per image
    results = [benchmark.Result("torch", 4, 0.002), benchmark.Result("onnxruntime", 4, 0.001),
               benchmark.Result("compile", 4, None, "RuntimeError: no compiler")]
    text = _render(_bench_table(results, graph, "cuda", "NVIDIA H100", 1e9, 5))
    onnxruntime = next(line for line in text.splitlines() if "onnxruntime" in line)
    assert "images/s" in text and "% of TF32 peak" in text and "failed: RuntimeError: no compiler" in text
    assert "4,000.0" in onnxruntime and "2.00x" in onnxruntime
    assert f"{100 * 2 * macs * 4 / 0.001 / 1e9:.1f}%" in onnxruntime
    unknown = _render(_bench_table(results[:1], graph, "cuda", "Mystery GPU", None, 5))
    assert "unknown GPU: --peak-tflops" in unknown


def test_unknown_runtime_is_a_usage_error(write_spec, capsys):
    assert run(["bench", str(write_spec(TINY)), "--runtime", "torch,tensorflow"]) == 2
    assert "unknown runtime tensorflow" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_device_without_cuda_is_a_usage_error(write_spec, capsys):
    assert run(["bench", str(write_spec(TINY)), "--device", "cuda"]) == 2
    assert "no usable CUDA device" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bench_on_gpu_reports_fraction_of_peak(write_spec, capsys):
    code = run(["bench", str(write_spec(TINY)), "--device", "cuda", "--runtime", "torch,onnxruntime",
                "--batch", "4", "--repeats", "3", "--peak-tflops", "100"])
    out = capsys.readouterr().out
    assert code == 0 and "% of TF32 peak" in out and "failed" not in out


def test_each_runtime_runs_in_a_fresh_process_on_the_same_weights(write_spec):
    model = archc.build(str(write_spec(TINY)), seed=0)
    steps = []
    results = benchmark.bench(model, (3, 8, 8), runtimes=["torch", "torch"], batch=2, repeats=3, warmup=2,
                              threads=1, step=steps.append)
    assert [r.runtime for r in results] == ["torch", "torch"] and all(r.latency_s for r in results)
    assert steps == ["torch"] * 10  # every call in the children reported back: 2 x (2 warm-up + 3 timed)
    broken = benchmark._isolated({"model": "/nonexistent/model.pt", "runtime": "torch", "input_shape": [3, 8, 8],
                                  "device": "cpu", "batch": 2, "repeats": 1, "warmup": 0, "threads": 1}, lambda: None)
    assert broken.latency_s is None and broken.error.startswith("its process exited with 1: ")


@pytest.mark.slow
def test_torch_compile_never_runs_in_the_measuring_process(write_spec):
    """The CLI's own process imports no part of torch.compile: its worker threads cannot disturb eager timings."""
    import subprocess
    import sys

    code = ("import sys; from archc.cli import run; code = run(sys.argv[1:]); "
            "print(code, any(m.startswith(('torch._inductor', 'torch._dynamo.eval_frame')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "bench", str(write_spec(TINY)), "--runtime", "torch,compile",
                           "--repeats", "2", "--warmup", "1", "--threads", "1", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr
    assert "CUDA_HOME" not in done.stderr


def test_threads_are_reported_and_a_busy_machine_is_flagged(write_spec, capsys, monkeypatch):
    monkeypatch.setattr(benchmark, "load_average", lambda: 1000.0)
    code = run(["bench", str(write_spec(TINY)), "--runtime", "torch", "--repeats", "2", "--warmup", "1",
                "--threads", "1", "--json"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and data["threads"] == 1 and data["results"][0]["speed_vs_torch"] == 1.0
    assert "busy" in data["warning"] and err.startswith("warning: the machine was busy")
    cores = benchmark.usable_cores()
    assert benchmark.busy_warning(0.1, 0.1 + cores, threads=cores) is None  # only this run's threads were busy
    assert benchmark.busy_warning(None, None, threads=1) is None           # no load average (Windows)


def test_the_cuda_home_notice_is_filtered():
    import logging

    notice = logging.LogRecord("torch.utils.cpp_extension", logging.WARNING, "", 0,
                               "No CUDA runtime is found, using CUDA_HOME='%s'", ("/usr/local",), None)
    other = logging.LogRecord("torch.utils.cpp_extension", logging.WARNING, "", 0, "something else", (), None)
    assert not benchmark._NoCudaHomeNotice().filter(notice) and benchmark._NoCudaHomeNotice().filter(other)
