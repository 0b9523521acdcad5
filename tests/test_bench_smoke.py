"""The benchmark harness (bench/) in its smallest mode, and the measuring helpers it relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import Section, Target, interleaved, run_process
from bench.report import render
from conftest import ROOT


def test_quick_static_run_writes_results(tmp_path):
    out = tmp_path / "RESULTS.md"
    command = [sys.executable, "-m", "bench", "--quick", "--only", "static", "--specs", "lenet5", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "python3 -m bench --quick --only static --specs lenet5" in text
    for heading in ("## Machine", "## Targets", "## 1. Static shapes"):
        assert heading in text
    import torch
    assert f"| torch | {torch.__version__} |" in text
    row = next(line for line in text.splitlines() if line.startswith("| lenet5 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "12"                                    # LeNet-5's layers, as archc.analyze counts them
    assert cells[2].endswith(("ms", "us", " s")), cells        # a measured archc.analyze time
    assert "Whole-process measurement skipped" in text          # densenet121 was not selected


def test_process_peak_memory_is_the_child_own():
    import torch  # noqa: F401  (this process is now big; the children's peaks must not include it)

    small = run_process([sys.executable, "-c", "pass"])
    big = run_process([sys.executable, "-c", "b = b'x' * (96 << 20)"])
    assert big.peak_rss_mib >= 96 > small.peak_rss_mib
    assert 0 < small.wall_s < 10


def test_failing_process_is_an_error_not_a_measurement():
    try:
        run_process([sys.executable, "-c", "raise SystemExit(3)"])
    except RuntimeError as exc:
        assert "exited with 3" in str(exc)
    else:
        raise AssertionError("a failing process was measured")


def test_interleaved_medians_order_calls_by_their_duration():
    times = interleaved({"short": lambda: time.sleep(0.002), "long": lambda: time.sleep(0.006)},
                        repeats=3, budget_s=0.2)
    assert 0.002 <= times["short"] < times["long"]
    assert times["long"] >= 0.006


def test_report_states_misses():
    section = Section("x", targets=[
        Target("fast enough", "1 s", "2 s", 2.0, ">= 1.5", True),
        Target("small enough", "90 MiB", "-", None, "<= 80 MiB", False),
    ])
    text = render([section], {"CPU": "test"}, "python3 -m bench", 60.0, quick=False)
    assert "1 of 2 targets met; missed: small enough." in text
    assert "| small enough | 90 MiB | - | - | <= 80 MiB | **MISS** |" in text
    assert "| fast enough | 1 s | 2 s | 2.00 | >= 1.5 | **PASS** |" in text


def test_gpu_table_gives_images_per_second_and_fraction_of_peak():
    from bench.gpu import VARIANTS, section

    times = {variant: 0.1 for variant in VARIANTS}
    times[VARIANTS[4]] = "not available: no TensorRT"
    rendered = section("Test GPU", 100e12, [("resnet50", 64)], [{"times": times, "macs": 4_000_000_000}])
    row = rendered.tables[0].rows[0]
    # 64 images in 0.1 s = 640 img/s; 2 * 4e9 MACs * 64 / 0.1 s = 5.12 TFLOP/s of a 100 TFLOP/s TF32 peak
    assert row[:3] == ["resnet50", 64, "640 (5.1%)"]
    assert row[VARIANTS.index("eager bf16 channels_last") + 2] == "640 (2.6%)"   # bf16 peak: twice TF32
    assert row[-1] == "not available: no TensorRT"


def test_failed_measurement_is_reported_as_not_measured():
    from bench.common import Config, Failed
    from bench.forward import section

    cfg = Config(quick=True, specs=None, threads=1, command="python3 -m bench")
    rendered = section(cfg, [("lenet5", 1, True)], [Failed("forward lenet5 batch 1", "RuntimeError: boom")])
    assert rendered.tables[0].rows[0][3] == "error: RuntimeError: boom"
    assert [t.verdict for t in rendered.targets] == ["not measured"]
    text = render([rendered], {"CPU": "test"}, "python3 -m bench", 1.0, quick=True)
    assert "0 of 1 targets met; not measured: forward lenet5 batch 1" in text


def test_busy_machine_is_flagged_but_the_run_own_load_is_not():
    from bench.__main__ import busy_warning

    cores = len(os.sched_getaffinity(0))
    assert busy_warning(0.1, 0.1 + cores, threads=cores) is None       # only this run's threads were busy
    assert "busy" in busy_warning(cores * 1.0, 0.0, threads=cores)      # others were running before it
    text = render([], {"CPU": "test"}, "python3 -m bench", 1.0, quick=True, warning="the machine was busy")
    assert "**Warning: the machine was busy**" in text
