"""The benchmark harness (bench/) in its smallest mode, and the measuring helpers it relies on."""

from __future__ import annotations

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
