"""`python3 -m bench [--quick] [--only static,build,forward,onnx,gpu,ddp,memory] [--specs a,b] [--out bench/RESULTS.md]`."""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

from archc.benchmark import busy_warning

from .common import ROOT, Config, Failed, bundled_specs, short_error

SECTIONS = ("static", "build", "forward", "onnx", "gpu", "ddp", "memory")


def _names(text: str, allowed=None) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if allowed is not None and (bad := [n for n in names if n not in allowed]):
        raise argparse.ArgumentTypeError(f"unknown section {', '.join(bad)}; choose from {', '.join(allowed)}")
    return names


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m bench",
                                     description="Measure archc against its references and write RESULTS.md.")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and specs (about 2 minutes)")
    parser.add_argument("--only", type=lambda t: _names(t, SECTIONS), default=list(SECTIONS),
                        help=f"comma-separated sections to run ({','.join(SECTIONS)})")
    parser.add_argument("--specs", type=_names, default=None,
                        help="comma-separated spec names: restrict every section to these")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch and ONNX Runtime intra-op threads (default: the usable cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md", help="markdown file to write")
    args = parser.parse_args(argv)
    if args.specs is not None and (unknown := sorted(set(args.specs) - set(bundled_specs()))):
        parser.error(f"no bundled spec {', '.join(unknown)} (specs/*.yaml: {', '.join(bundled_specs())})")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    warnings.filterwarnings("ignore")  # torchvision's init FutureWarnings and the exporter's chatter
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import report
    from .common import machine

    torch.set_num_threads(args.threads)
    cfg = Config(quick=args.quick, specs=args.specs, threads=args.threads,
                 command=shlex.join(["python3", "-m", "bench", *argv]))
    load_at_start = os.getloadavg()[0]
    described = machine()
    described["threads"] = str(args.threads)
    started = time.perf_counter()
    plans = [(name, *importlib.import_module(f".{name}", __package__).plan(cfg)) for name in args.only]
    sections = []
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("benchmark", total=sum(len(jobs) for _, jobs, _ in plans))
        for name, jobs, finish in plans:
            results = []
            for job in jobs:
                progress.update(bar, description=f"[{name}] {job.label}")
                try:
                    results.append(job.run())
                except Exception as exc:  # one failing measurement is reported, the others still run
                    results.append(Failed(job.label, short_error(exc)))
                progress.advance(bar)
            sections.append(finish(results))
    described["load average at end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    text = report.render(sections, described, cfg.command, time.perf_counter() - started, args.quick,
                         busy_warning(load_at_start, os.getloadavg()[0], args.threads))
    from archc.atomic import write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, text)
    targets = [t for s in sections for t in s.targets]
    missed = [t.name for t in targets if t.passed is False]
    console.print(f"wrote {args.out}: {sum(1 for t in targets if t.passed)} of {len(targets)} targets met"
                  + (f"; missed: {'; '.join(missed)}" if missed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
