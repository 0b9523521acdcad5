"""bench's data-parallel section (bench/ddp.py): skipped without CUDA; its run and table work on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from bench import ddp
from bench.common import Config, Failed


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_section_is_skipped_cleanly_without_cuda():
    jobs, finish = ddp.plan(Config(quick=True, specs=None, threads=1, command="python3 -m bench --only ddp"))
    section = finish([])
    assert jobs == [] and section.tables == []
    assert "Skipped: torch.cuda.is_available() is False" in section.notes[0]


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed (gloo)")
def test_measure_runs_the_example_under_torchrun_and_tabulates_its_step_time():
    """The GPU job's command, run here on the CPU (gloo) with a small spec and few steps."""
    report = ddp.measure("lenet5", batch=4, steps=3, device="cpu")
    assert (report["world_size"], report["backend"], len(report["losses"])) == (1, "gloo", 3)
    assert report["step_s_median"] > 0
    table = ddp.section("cpu", ["lenet5", "resnet50"], [report, Failed("ddp resnet50", "RuntimeError: boom")])
    done, failed = table.tables[0].rows
    assert done[:3] == ["lenet5", 4, f"{report['step_s_median'] * 1000:.1f} ms"]
    assert done[3] == f"{4 / report['step_s_median']:,.0f}"
    assert done[4] == "all passed" if report["ok"] else done[4].startswith("failed: ")
    assert failed == ["resnet50", "", "error: RuntimeError: boom", "", ""]
