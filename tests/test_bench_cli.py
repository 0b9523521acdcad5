"""`archc bench`: every runtime measured on the same weights, a table of ratios, clean usage errors."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

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
    rows = [line for line in out.splitlines() if line.strip("│ ").startswith(("torch", "onnxruntime"))]
    assert len(rows) == 2 and all("x" in row for row in rows) and "1.00x" in rows[0]
    assert "failed" not in out


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
