"""Whether a forward pass that a command runs for real fits in this machine's free memory.

`archc export` runs the model (and ONNX Runtime) on an example batch; a spec whose shapes are
valid may still need far more memory than there is. The static memory model says how much before
anything is allocated, so the command can refuse with a figure instead of dying in the allocator.
"""

from __future__ import annotations

import os

from .errors import SpecError
from .footprint import Settings, memory_of
from .footprint_text import fmt_bytes
from .ir import Graph


def available_bytes() -> int | None:
    """The memory the kernel can give this process without swapping (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def room_problem(graph: Graph, batch: int, copies: int, what: str, free: int | None = None) -> str | None:
    """Why `copies` eval forwards of `graph` at `batch` (parameters and inference peak, fp32) cannot
    fit in `free` bytes (default: this machine's free memory), or None when they can or either figure
    is unknown."""
    free = available_bytes() if free is None else free
    try:
        totals = memory_of(graph, Settings(batch=batch, mode="infer", device="cpu")).totals()
    except SpecError:  # an op (a plugin's) without a memory trait: no figure to refuse on
        return None
    need = copies * totals["total_train_bytes"]  # in eval mode: parameters and the inference peak
    if free is None or need <= free:
        return None
    return (f"{what} needs about {fmt_bytes(need)} (parameters {fmt_bytes(totals['params_bytes'])} and an "
            f"inference peak of {fmt_bytes(totals['inference_peak_bytes'])} at batch {batch}"
            f"{f', {copies} times' if copies > 1 else ''}; see archc memory), but there are "
            f"{fmt_bytes(free)} free; use a smaller --input or batch")
