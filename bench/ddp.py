"""GPU data parallel: examples/train_ddp.py under torchrun, one process on NCCL; median step time (CUDA only).

Skipped, and said so in RESULTS.md, when torch.cuda.is_available() is False. The example runs as a
user runs it (`python -m torch.distributed.run --nproc-per-node 1 ... --device cuda`) and reports its
steps' seconds (forward, backward and the optimizer step, synchronised; the first step excluded).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import ROOT, Config, Failed, Job, Section, Table

SPECS, QUICK_SPECS = ["resnet50", "googlenet"], ["resnet50"]
BATCH, STEPS, QUICK_STEPS = 64, 30, 10
SCRIPT = ROOT / "examples" / "train_ddp.py"


def plan(cfg: Config):
    import torch

    if not torch.cuda.is_available():
        return [], lambda results: Section("6. GPU data parallel", notes=[
            "Skipped: torch.cuda.is_available() is False on this machine (no CUDA device)."])
    specs = cfg.select(SPECS, QUICK_SPECS)
    steps = QUICK_STEPS if cfg.quick else STEPS
    jobs = [Job(f"ddp {spec}", lambda spec=spec: measure(spec, BATCH, steps)) for spec in specs]
    return jobs, lambda results: section(torch.cuda.get_device_name(0), specs, results)


def measure(spec: str, batch: int, steps: int, device: str = "cuda", input_shape: str | None = None) -> dict:
    """The example's JSON report for one process; raises with its output's tail if it wrote none."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="archc-bench-ddp-") as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1",
                   "--master-addr", "127.0.0.1", "--master-port", str(port), str(SCRIPT), "--spec", spec,
                   "--device", device, "--batch", str(batch), "--steps", str(steps),
                   "--out", str(Path(folder) / "out"), "--report", str(report)]
        command += ["--input", input_shape] if input_shape else []
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        if not report.exists():
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"train_ddp.py exited with {done.returncode}: {' '.join(tail)[:300]}")
        return json.loads(report.read_text())


def section(name: str, specs: list[str], results: list) -> Section:
    result = Section("6. GPU data parallel")
    table = Table(f"{name}: examples/train_ddp.py, DDP on NCCL, 1 process",
                  ["spec", "batch", "median step", "images/s", "checks"])
    for spec, row in zip(specs, results):
        if isinstance(row, Failed):
            table.rows.append([spec, "", f"error: {row.error}", "", ""])
            continue
        failed = [key for key, passed in row["checks"].items() if not passed]
        step = row["step_s_median"]
        table.rows.append([spec, row["batch"], f"{step * 1000:.1f} ms", f"{row['batch'] / step:,.0f}",
                           "all passed" if not failed else "failed: " + ", ".join(failed)])
    result.tables.append(table)
    result.notes += [
        ("A step is forward, backward (with DDP's gradient all-reduce, trivial on one rank) and Adam's step, "
         "timed between torch.cuda.synchronize calls; the median of all steps but the first."),
        ("Input: the spec's own size; data made by the example. Multi-process and multi-node NCCL runs are "
         "not measured here (see docs/scale-out.md)."),
    ]
    return result
