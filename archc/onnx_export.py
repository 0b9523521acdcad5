"""ONNX export with verification: torch's dynamo exporter, onnx.checker, then ONNX Runtime parity.

The model is written and checked in a staging folder beside the target and only moved under the
output name (through `archc.atomic`) once every check passed, so a failed export never leaves a
file under that name. With `--fp16` the module runs in float16 inside casts at its boundary
(inputs and outputs stay float32) and is compared with the float32 module at a looser tolerance.
Adaptive max pools whose sizes do not divide are unrolled for the exporter (it has no ONNX
function for them); parity against the original module checks the rewrite. Imports torch.
"""

from __future__ import annotations

import copy
import itertools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from . import runtime
from .atomic import WRITTEN_THROUGH, atomic_path, file_kind
from .opset import MIN_OPSET, newest_opset, opset_problem

TOLERANCE = {"float32": (1e-3, 1e-4), "float16": (1e-2, 1e-2)}
"""(rtol, atol) per precision: an output element passes where
|onnx - torch| <= atol * max(1, largest |output|) + rtol * |torch|.
Rounding errors are relative to the magnitude of the values summed, not to each element, so atol
grows with the largest output: an untrained ResNet-101 (eval BatchNorm with fresh statistics)
gives logits near 1e4 whose float32 sums differ by ~1e-2 between runtimes. float32 atol is 1e-4,
not 1e-5: GoogLeNet with measured BatchNorm statistics has logits near 0.7, and torch's own
float32 result differs from float64 by 1.4e-5 there (ONNX Runtime's by 1e-5).
float16 is compared with the float32 module."""
ATOL_SCALE = "x max(1, largest |output|)"

EXAMPLE_BATCH = 2  # torch.export specialises sizes 0 and 1, so a dynamic batch is traced at 2
SECOND_BATCH = 1   # a dynamic batch is verified at this size too


class ExportFailed(Exception):
    """The exporter, the ONNX checker or the parity check failed; the message says which and why."""


@dataclass
class Parity:
    """ONNX Runtime against PyTorch on one random batch."""

    batch: int
    max_abs: float
    max_rel: float
    ok: bool
    problem: str | None = None  # a shape or count mismatch, when the outputs cannot be compared


@dataclass
class ExportReport:
    path: Path
    size: int
    opset: int
    batch: str | int
    dtype: str
    seconds: float
    data_path: Path | None = None
    data_size: int = 0
    simplified: bool = False
    simplified_nodes: tuple[int, int] | None = None  # onnxslim: graph nodes before and after
    provider: str | None = None
    tolerance: tuple[float, float] | None = None
    parity: list[Parity] = field(default_factory=list)


def _exportable(module):
    """`module`, or a copy whose adaptive max pools are unrolled: torch's exporter has no ONNX
    function for adaptive_max_pool when the input size is not a multiple of the output size."""
    if not any(isinstance(m, (torch.nn.AdaptiveMaxPool1d, torch.nn.AdaptiveMaxPool2d)) for m in module.modules()):
        return module
    module = copy.deepcopy(module)
    for name, child in list(module.named_modules()):
        if isinstance(child, (torch.nn.AdaptiveMaxPool1d, torch.nn.AdaptiveMaxPool2d)) and not child.return_indices:
            parent, _, attr = name.rpartition(".")
            replacement = UnrolledAdaptiveMaxPool(child)
            if not name:
                return replacement
            setattr(module.get_submodule(parent), attr, replacement)
    return module


class UnrolledAdaptiveMaxPool(torch.nn.Module):
    """Adaptive max pooling as one max per output cell (PyTorch's windows: floor(i*L/o) to
    ceil((i+1)*L/o)); the spatial sizes are static in an export, only the batch is dynamic."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        spatial = tuple(x.shape[2:])
        size = self.pool.output_size
        size = (size,) * len(spatial) if isinstance(size, int) else tuple(size)
        out = tuple(s if o is None else o for s, o in zip(spatial, size))
        if all(s % o == 0 for s, o in zip(spatial, out)):
            return self.pool(x)
        cells = []
        for index in itertools.product(*(range(o) for o in out)):
            region = x
            for dim, (i, o, s) in enumerate(zip(index, out, spatial)):
                start, end = i * s // o, -(-(i + 1) * s // o)
                region = region.narrow(2 + dim, start, end - start)
            cells.append(region.amax(dim=tuple(range(2, x.dim()))))
        return torch.stack(cells, -1).unflatten(-1, out)


class Float16Boundary(torch.nn.Module):
    """A float16 copy of a module that takes and returns float32 tensors."""

    def __init__(self, module):
        super().__init__()
        self.inner = copy.deepcopy(module).half()

    def forward(self, x):
        return _map_tensors(self.inner(x.half()), lambda t: t.float())


def _map_tensors(out, fn):
    if isinstance(out, dict):
        return {k: fn(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(fn(v) for v in out)
    return fn(out)


def flat_outputs(out) -> list:
    """A module's result (tensor, tuple/list or dict) as a flat list, in ONNX output order."""
    if isinstance(out, dict):
        return list(out.values())
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def export_onnx(source, path=None, *, params: dict | None = None, input_shape=None, weights=None,
                seed: int = 0, max_params: int | None = None, plugins=(), **options) -> ExportReport:
    """Build a spec (path, YAML text or dict) and export it to ONNX; `path` defaults to NAME.onnx in the
    current folder (NAME: the spec file's name, or the model's name made safe for a file name).
    An output that is one of the files read (the spec, what it extends or imports, `weights`) raises
    archc.outputs.OutputRefused before anything is built.

    weights: a file saved by `archc build -o`, or a state_dict (else the module built with `seed`).
    options: those of `export_module` (batch, opset, fp16, simplify, check, provider, external_data).
    """
    from .capacity import room_problem
    from .emit.build import build_from_graph
    from .outputs import check_output, default_output, read_files
    from .pipeline import compile_spec

    if options.get("check", True):
        runtime.choose(options.get("provider"))  # refuse an unusable provider before building anything
    limit = {} if max_params is None else {"max_params": max_params}
    compiled = compile_spec(source, params or {}, input_shape, plugins=plugins, **limit)
    graph = compiled.graph
    target = Path(path) if path is not None else default_output(compiled.source, graph.name, ".onnx")
    check_output(target, [*read_files(compiled.doc), *([weights] if isinstance(weights, (str, os.PathLike)) else [])])
    batch = options.get("batch", "dynamic")
    check = options.get("check", True)
    problem = room_problem(graph, EXAMPLE_BATCH if batch == "dynamic" else max(int(batch), SECOND_BATCH),
                           2 if check else 1, "exporting, which runs the model on an example batch"
                           + (" and ONNX Runtime beside it," if check else ","))
    if problem:
        raise ExportFailed(f"nothing written to {target}: {problem}")
    module = build_from_graph(graph, compiled.spec, seed)
    if weights is not None:
        load_weights(module, weights)
    names = [o.name for o in graph.outputs if not o.train_only]
    return export_module(module, target, input_shape=graph.input_shape,
                         output_names=_output_names(module, graph.input_shape, names), **options)


def load_weights(module, weights) -> None:
    """Load a state_dict, or a file saved by `archc build -o` (a dict with "state_dict") or
    holding a plain state_dict."""
    state = weights if isinstance(weights, dict) else _read_state_dict(weights)
    source = "the given weights" if isinstance(weights, dict) else f"the weights in {weights}"
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ExportFailed(f"{source} do not fit this spec: {_first_lines(exc, 4)}") from exc


def _read_state_dict(path) -> dict:
    from .errors import SpecError
    from .saving import torch_load

    try:
        saved = torch_load(path)  # checked first: a regular file, a zip archive that is no bomb
    except SpecError as exc:
        raise ExportFailed(f"cannot read weights from {path}: {exc.diagnostics[0].message}") from None
    state = saved.get("state_dict", saved) if isinstance(saved, dict) else None
    if not isinstance(state, dict):
        raise ExportFailed(f"{path} holds no state_dict (expected a file saved by `archc build -o`)")
    return state


def _output_names(module, input_shape, names: list[str]) -> list[str]:
    """ONNX output names: a dict output's keys, else the spec's output names, else output0, output1..."""
    with torch.no_grad():
        out = module.eval()(torch.zeros(EXAMPLE_BATCH, *input_shape))
    if isinstance(out, dict):
        return [str(k) for k in out]
    count = len(flat_outputs(out))
    return names if len(names) == count else ["output"] if count == 1 else [f"output{i}" for i in range(count)]


def export_module(module, path, *, input_shape, input_name: str = "input", output_names=("output",),
                  batch: str | int = "dynamic", opset: int | None = None, fp16: bool = False,
                  simplify: bool = False, check: bool = True, provider: str | None = None,
                  external_data: bool | None = None) -> ExportReport:
    """Export an nn.Module to `path` and (unless check=False) verify it on ONNX Runtime.

    external_data: None writes weights into a `PATH.data` file only for large models (as torch
    does, above ~1.5 GB; protobuf cannot hold 2 GB), True always, False never.
    Raises ExportFailed (nothing left under `path`) or runtime.ProviderUnavailable.
    """
    if opset is not None and not MIN_OPSET <= opset <= newest_opset():
        raise ExportFailed(opset_problem(opset))
    chosen = runtime.choose(provider) if check else None
    target = Path(path)
    dynamic = batch == "dynamic"
    example_batch = EXAMPLE_BATCH if dynamic else int(batch)
    module = module.eval()
    exported = Float16Boundary(_exportable(module)).eval() if fp16 else _exportable(module)
    start = time.perf_counter()
    through = file_kind(target) in WRITTEN_THROUGH  # a FIFO or device: nothing may be made beside it
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=None if through else target.parent))
    try:
        staged = staging / target.name
        example = torch.randn(example_batch, *input_shape, generator=torch.Generator().manual_seed(0))
        _export(exported, example, staged, input_name, list(output_names), dynamic, opset, external_data)
        nodes = _simplify(staged) if simplify else None
        report = _describe(staged, target, batch, "float16" if fp16 else "float32", simplify)
        if opset is not None and report.opset != opset:  # torch's version converter failed and kept its own
            raise ExportFailed(f"torch could not convert the model to opset {opset} (it wrote opset {report.opset})")
        report.simplified_nodes = nodes
        if check:
            _check(staged)
            report.provider = chosen
            report.tolerance = TOLERANCE[report.dtype]
            batches = [example_batch, SECOND_BATCH] if dynamic else [example_batch]
            report.parity = [parity(staged, module, input_shape, b, chosen, report.tolerance, input_name)
                             for b in batches]
            failed = [p for p in report.parity if not p.ok]
            if failed:
                kept = None if through else _keep_failed(staged, target)
                raise ExportFailed(_parity_message(failed, chosen, report.tolerance, kept))
        report.seconds = time.perf_counter() - start
        _commit(staged, target)
        return report
    except ExportFailed as exc:
        raise ExportFailed(f"nothing written to {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export(module, example, staged: Path, input_name, output_names, dynamic, opset, external_data) -> None:
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    try:
        with torch.no_grad():
            program = torch.onnx.export(module, (example,), dynamo=True, input_names=[input_name],
                                        output_names=output_names, opset_version=opset,
                                        dynamic_shapes=dynamic_shapes, verbose=False)
        program.save(staged, external_data=external_data)
    except Exception as exc:  # the exporter's own errors carry the op that failed
        raise ExportFailed(f"torch.onnx.export failed: {type(exc).__name__}: {_first_lines(exc)}") from exc


def _node_count(path: Path) -> int:
    return len(onnx.load(str(path), load_external_data=False).graph.node)


def _simplify(staged: Path) -> tuple[int, int]:
    """Simplify in place with onnxslim (its table, which names the staging path, is swallowed);
    returns the graph's node count before and after."""
    import contextlib
    import io

    import onnxslim

    before = _node_count(staged)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            onnxslim.slim(str(staged), str(staged))
    except Exception as exc:
        raise ExportFailed(f"onnxslim could not simplify the model: {_first_lines(exc)}") from exc
    return before, _node_count(staged)


def _check(staged: Path) -> None:
    try:
        onnx.checker.check_model(str(staged))  # by path: works with external data and > 2 GB
    except onnx.checker.ValidationError as exc:
        raise ExportFailed(f"onnx.checker rejected the exported model: {_first_lines(exc)}") from exc


def parity(model_path, module, input_shape, batch: int, provider: str, tolerance, input_name="input") -> Parity:
    """Run the ONNX file and `module` (float32, eval) on one random batch and compare the outputs
    with `tolerance` (rtol, atol) as TOLERANCE describes."""
    rtol, atol = tolerance
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        expected = [t.float().numpy() for t in flat_outputs(module.eval()(x))]
    got = runtime.session(model_path, provider).run(None, {input_name: x.numpy()})
    if len(got) != len(expected):
        return Parity(batch, float("inf"), float("inf"), False, f"{len(got)} outputs, PyTorch gives {len(expected)}")
    max_abs = max_rel = 0.0
    ok = True
    for a, b in zip(got, expected):
        if a.shape != b.shape:
            return Parity(batch, float("inf"), float("inf"), False, f"output shape {a.shape}, PyTorch gives {b.shape}")
        diff = np.abs(a.astype(np.float64) - b)
        allowed_abs = atol * max(1.0, float(np.abs(b).max(initial=0.0)))
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(b), 1e-12)).max(initial=0.0)))
        ok = ok and bool(np.all(diff <= allowed_abs + rtol * np.abs(b)))
    return Parity(batch, max_abs, max_rel, ok)


def _parity_message(failed: list[Parity], provider: str, tolerance, kept: Path | None) -> str:
    rtol, atol = tolerance
    lines = ["ONNX Runtime's outputs differ from PyTorch's:"]
    for p in failed:
        detail = p.problem or f"max abs diff {p.max_abs:.3g}, max rel diff {p.max_rel:.3g}"
        lines.append(f"  batch {p.batch} on {provider}: {detail} (allowed: rtol {rtol:g}, atol {atol:g} {ATOL_SCALE})")
    if kept:
        lines.append(f"the failed model is kept as {kept} for inspection")
    return "\n".join(lines)


def _describe(staged: Path, target: Path, batch, dtype: str, simplified: bool) -> ExportReport:
    model = onnx.load(str(staged), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    data = staged.with_name(staged.name + ".data")
    return ExportReport(path=target, size=staged.stat().st_size, opset=opset, batch=batch, dtype=dtype,
                        seconds=0.0, data_path=target.with_name(data.name) if data.exists() else None,
                        data_size=data.stat().st_size if data.exists() else 0, simplified=simplified)


def _keep_failed(staged: Path, target: Path) -> Path | None:
    """Keep a model that failed parity as NAME.failed.onnx (only self-contained ones: external data
    names its file, which would then sit under the output name)."""
    if staged.with_name(staged.name + ".data").exists():
        return None
    failed = target.with_name(f"{target.stem}.failed.onnx")
    with atomic_path(failed) as tmp:
        os.replace(staged, tmp)
    return failed


def _commit(staged: Path, target: Path) -> None:
    data = staged.with_name(staged.name + ".data")
    if data.exists() and file_kind(target) in WRITTEN_THROUGH:
        raise ExportFailed(f"the weights are in an external data file, which cannot go beside {target} "
                           "(not a regular file); name a regular output file")
    if data.exists():
        with atomic_path(target.with_name(data.name)) as tmp:
            os.replace(data, tmp)
    with atomic_path(target) as tmp:
        os.replace(staged, tmp)


def _first_lines(exc: BaseException, count: int = 6) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return "\n".join(lines[:count]) or type(exc).__name__
