"""What every section shares: the run's settings, results, timing, process measurement, the machine.

Timing rules (all sections): warm-up calls are excluded, the median of the timed repeats is
reported, and two things being compared are timed alternately (A B B A A B ...) in the same
process with the same threads, so drift and noise from other processes hit both alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
MIN_SAMPLE_S = 0.02  # one timed sample runs a fast call enough times to last at least this long
MAX_REPEATS = 31


@dataclass
class Config:
    quick: bool
    specs: list[str] | None  # spec names to restrict every section to; None: each section's own set
    threads: int
    command: str

    @property
    def repeats(self) -> int:
        return 3 if self.quick else 7

    def select(self, full: list, quick: list, key: Callable[[Any], str] = lambda item: item) -> list:
        """A section's items: those of `full` whose spec was asked for with --specs, else `quick` or `full`."""
        if self.specs is not None:
            return [item for item in full if key(item) in self.specs]
        return quick if self.quick else full


@dataclass
class Target:
    """One stated goal: `measured` vs `reference` as `ratio`, and whether it meets `goal`."""

    name: str
    measured: str
    reference: str
    ratio: float | None
    goal: str
    passed: bool | None  # None: could not be measured in this run

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "not measured"}[self.passed]


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Job:
    """One unit of work of a section (one progress-bar step); `run()` returns the section's row data."""

    label: str
    run: Callable[[], Any]


@dataclass
class Failed:
    """A job that raised: the error is a result, written into the tables, not a crash."""

    label: str
    error: str


def spec_path(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


def bundled_specs() -> list[str]:
    return sorted(p.stem for p in SPECS.glob("*.yaml"))


def interleaved(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                sync: Callable[[], None] = lambda: None, budget_s: float = 1.0) -> dict[str, float]:
    """Median seconds per call of each callable, timed in alternating order.

    A sample of a fast callable runs it several times in a row (enough to last about
    MIN_SAMPLE_S, so microsecond calls are not lost in timer resolution); the order of the
    callables is reversed every round (A B, B A, A B ...) to cancel drift. Where `repeats`
    rounds would take less than `budget_s`, more rounds are run (at most MAX_REPEATS): cheap
    measurements get more samples, so their medians resist noise from other processes.
    """
    for call in calls.values():
        for _ in range(warmup):
            call()
    sync()
    once = {name: _once(call, sync) for name, call in calls.items()}
    number = {name: max(1, round(MIN_SAMPLE_S / seconds)) for name, seconds in once.items()}
    round_s = sum(number[name] * once[name] for name in calls)
    repeats = max(repeats, min(MAX_REPEATS, int(budget_s / round_s)))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for _ in range(repeats):
        for name in order:
            call = calls[name]
            start = time.perf_counter()
            for _ in range(number[name]):
                call()
            sync()
            samples[name].append((time.perf_counter() - start) / number[name])
        order.reverse()
    return {name: statistics.median(times) for name, times in samples.items()}


def _once(call: Callable[[], object], sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    sync()
    return max(time.perf_counter() - start, 1e-7)


@dataclass
class ProcessRun:
    wall_s: float
    peak_rss_mib: float


# Runs in a small fresh Python: spawns the measured command, waits for it, prints "wall_s maxrss_kib exit".
# A helper is needed because a child's ru_maxrss includes the RSS of the address space it exec'd from:
# spawned straight from this process (torch loaded: hundreds of MiB), every child would look that big.
_MEASURE = """
import os, sys, time
argv = sys.argv[1:]
null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=null)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_process(argv: list[str], env: dict[str, str] | None = None) -> ProcessRun:
    """Wall time and peak RSS of one fresh process running `argv` (its output discarded).

    Both are taken by a small helper process around the spawn (see _MEASURE): the wall time
    excludes the helper's own start-up, and the peak is wait4's ru_maxrss of that very child.
    A non-zero exit is an error, not a measurement.
    """
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], env=env, capture_output=True, text=True,
                          check=True)
    wall, maxrss_kib, code = done.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}")
    return ProcessRun(float(wall), int(maxrss_kib) / 1024)  # Linux reports ru_maxrss in KiB


def median_process(argv: list[str], repeats: int, env: dict[str, str] | None = None) -> ProcessRun:
    """Median wall time and median peak RSS of `repeats` fresh runs, after one untimed run (file cache)."""
    run_process(argv, env)
    runs = [run_process(argv, env) for _ in range(repeats)]
    return ProcessRun(statistics.median(r.wall_s for r in runs), statistics.median(r.peak_rss_mib for r in runs))


def machine() -> dict[str, str]:
    """CPU, cores, memory, Python and library versions, GPU: what a reader needs to compare runs."""
    import onnxruntime
    import torch
    import torchvision

    info = {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} logical ({len(os.sched_getaffinity(0))} usable by this process)",
        "RAM": _ram(),
        "OS": platform.platform(),
        "Python": f"{platform.python_version()} ({sys.executable})",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnxruntime": onnxruntime.__version__,
        "GPU": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CUDA not available)",
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    try:
        import torchinfo
        info["torchinfo"] = torchinfo.__version__
    except ImportError:
        info["torchinfo"] = "not installed"
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def fmt_s(seconds: float | None) -> str:
    """Seconds with a unit that keeps 3 significant digits: 12.3 us, 4.56 ms, 1.23 s."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def short_error(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__
