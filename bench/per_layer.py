"""Build cost per layer: a spec of N equal conv layers, analysed, built on the meta device (what
`archc build` summarises), built for real (`archc.build`), against torch's own constructors.

    python3 -m bench.per_layer              # 50,000 layers
    python3 -m bench.per_layer --layers 5000

Prints CPU seconds and microseconds per layer for each step (the median of --repeats runs, each
in a fresh process so no step warms another's caches). Standalone: it measures whichever archc
is importable, so the same file times two checkouts (PYTHONPATH=...).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

SPEC = """name: convs
input: [4, 8, 8]
layers:
  - for: i
    in: {outer}
    do:
      - for: j
        in: {inner}
        do: [{{conv: {{out: 4, kernel: 3, padding: 1}}}}, {{conv: {{out: 4, kernel: 3, padding: 1}}}}]
"""

STEPS = {
    "analyze": "archc.analyze(spec)",
    "meta build": "build_from_graph(graph, plain(doc), device='meta')",
    "build": "archc.build(spec, seed=0)",
    "torch constructors": "nn.Sequential(*(nn.Conv2d(4, 4, 3, padding=1) for _ in range(layers)))",
}
SETUP = """
import time, archc
from torch import nn
from archc.emit.build import build_from_graph
from archc.pipeline import analyze_doc, load, plain
spec, layers = {spec!r}, {layers}
doc = load(spec); graph = analyze_doc(doc)
start = time.process_time()
{step}
print(time.process_time() - start)
"""


def measure(layers: int, repeats: int) -> dict[str, float]:
    """CPU seconds of each step (median of `repeats` fresh processes)."""
    inner = min(layers // 2, 5000)
    spec = SPEC.format(outer=layers // (2 * inner), inner=inner)
    result = {}
    for name, step in STEPS.items():
        runs = [float(subprocess.run([sys.executable, "-c", SETUP.format(spec=spec, layers=layers, step=step)],
                                     capture_output=True, text=True, check=True).stdout) for _ in range(repeats)]
        result[name] = statistics.median(runs)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=50_000, help="conv layers (a multiple of 10,000 above it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seconds = measure(args.layers, args.repeats)
    if args.json:
        print(json.dumps(seconds))
        return
    print(f"{args.layers:,} conv layers, CPU time (median of {args.repeats}):")
    for name, value in seconds.items():
        print(f"  {name:<20} {value:7.2f} s  {value / args.layers * 1e6:6.1f} us per layer")


if __name__ == "__main__":
    main()
