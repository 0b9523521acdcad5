"""Every registered op, built-in or from the example plugin, works in every backend.

Each op's `example` (attributes and input shapes, see archc.op.Example) becomes a minimal spec, which
goes through `shapes` (checked against the built torch module), `build --check`, `--emit python`
(executed; outputs bit-identical to archc.build's module after load_state_dict), `graph` (the DOT
must parse) and `export --onnx` (checked against ONNX Runtime here, not only by archc's own parity
check). A new op is covered by being registered; one without an example fails here, saying what to add.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.cli import run
from archc.emit.build import build_from_graph
from archc.emit.check import check_shapes
from archc.pipeline import compile_spec
from archc.ops import REGISTRY
from archc.ops.layout import CHANNELS_LAST, TOKENS
from archc.plugins import load_plugins
from conftest import PLUGINS, isolated_plugins

SE_PLUGIN = PLUGINS / "se.py"
with isolated_plugins():
    load_plugins([SE_PLUGIN])
    PLUGIN_OPS = sorted(name for name, op in REGISTRY.items() if op.plugin)
CASES = [pytest.param((name, None), id=name) for name in sorted(REGISTRY)] + \
        [pytest.param((name, SE_PLUGIN), id=f"plugin-{name}") for name in PLUGIN_OPS]
BATCH = 2
# an example input with a Layout: (the plain input's dims as indices into the layout, the permute to it)
LAYOUT_INPUTS = {TOKENS: ((1, 0), [0, 2, 1]), CHANNELS_LAST: ((2, 0, 1), [0, 2, 3, 1])}


def example_spec(op) -> dict:
    """The minimal spec of an op's example: the op alone, or a merge of one branch per example input."""
    if op.example is None or not op.example.inputs:
        pytest.fail(f"the op '{op.name}' has no example: add example=Example(attrs, input_shapes) to its Op, "
                    f"e.g. example=Example({{'out': 4}}, [(3, 8, 8)]) (see docs/ops.md)")
    shapes = [tuple(shape) for shape in op.example.inputs]
    spec = {"name": f"example_{op.name}", "input": list(shapes[0])}
    layout = LAYOUT_INPUTS.get(getattr(op.example.inputs[0], "names", None))
    if op.plugin:
        spec["plugins"] = [Path(op.plugin).stem]  # the spec declares what it needs; the test gives it
    if not op.merge:
        assert len(shapes) == 1, f"the example of '{op.name}' gives {len(shapes)} inputs; an op that is no merge takes one"
        spec["layers"] = [{op.name: dict(op.example.attrs) or None}]
        if layout:  # a Layout input: the plain shape, then the permute that gives it its layout
            order, dims = layout
            spec["input"] = [shapes[0][k] for k in order]
            spec["layers"].insert(0, {"permute": {"dims": dims}})
        return spec
    ranks = {len(shape) for shape in shapes}
    assert ranks in ({1}, {3}), f"the example inputs of the merge '{op.name}' must all be [C, H, W] or all [F]"
    spec["input"] = [4, *(max(s[k] for s in shapes) for k in (1, 2))] if ranks == {3} else [4]
    branches = {f"b{k}": _producer(spec["input"], shape) for k, shape in enumerate(shapes)}
    spec["layers"] = [{op.name: {**op.example.attrs, **branches}}]  # a merge's attributes sit beside its branches
    return spec


def _producer(source: list, shape: tuple) -> list:
    """Layers that turn the spec's input into a tensor of `shape` (a merge branch)."""
    if len(shape) == 1:
        return [{"linear": {"out": shape[0]}}]
    pool = [{"adaptive_avgpool": {"out": list(shape[1:])}}] if list(shape[1:]) != source[1:] else []
    return [*pool, {"conv": {"out": shape[0], "kernel": 1}}]


@pytest.fixture
def case(request, tmp_path):
    """(op, spec dict, spec file, CLI prefix) with the op's plugin loaded for the test only."""
    name, plugin = request.param
    with isolated_plugins():
        if plugin:
            load_plugins([plugin])
        op = REGISTRY[name]
        spec = example_spec(op)
        path = tmp_path / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        yield op, spec, path, ["--plugin", str(plugin)] if plugin else []


def parametrize(test):
    return pytest.mark.parametrize("case", CASES, indirect=True)(test)


def example_input(spec: dict, seed: int = 0) -> torch.Tensor:
    return torch.randn((BATCH, *spec["input"]), generator=torch.Generator().manual_seed(seed))


def the_node(graph, op):
    nodes = [n for n in graph.nodes if n.op == op.name]
    assert len(nodes) == 1, f"the example spec of '{op.name}' has {len(nodes)} '{op.name}' layers"
    return nodes[0]


@parametrize
def test_shapes_params_and_macs_match_torch(case, capsys):
    op, spec, path, prefix = case
    assert run([*prefix, "shapes", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    model = archc.build(spec, seed=0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        out = model(example_input(spec))
    if any(isinstance(m, torch.nn.MultiheadAttention) for m in model.modules()):
        # eval mode runs attention as one fused kernel, which FlopCounterMode does not count; training doesn't
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as flops:
            model.train()(example_input(spec))  # the math backend: matmuls FlopCounterMode counts
    assert report["outputs"][0]["shape"] == list(out.shape[1:])
    assert report["totals"]["params"] == sum(p.numel() for p in model.parameters())
    assert report["totals"]["macs"] * 2 * BATCH == flops.get_total_flops()


@parametrize
def test_build_check_runtime_shapes_equal_static_ones(case):
    op, spec, path, prefix = case
    compiled = compile_spec(spec)
    the_node(compiled.graph, op)
    checked, mismatches = check_shapes(compiled.graph, build_from_graph(compiled.graph, compiled.spec, device="meta"))
    assert mismatches == []
    assert checked == sum(n.module is not None and not n.spec.tensor for n in compiled.graph.nodes)  # a Tensor: no module


def _emitted_module(source: str, tmp_path, graph_name: str):
    path = tmp_path / f"emitted_{graph_name}.py"
    path.write_text(source)
    loader = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    classes = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == path.stem]
    return classes[-1]()  # the model: the archc.nn classes its layers use are copied in above it


def _imported(source: str) -> set[str]:
    tree = ast.parse(source)
    return {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names} | \
        {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}


@parametrize
def test_emitted_python_runs_bit_identical_to_the_built_module(case, tmp_path):
    op, spec, path, prefix = case
    built = archc.build(spec, seed=0)
    source = archc.emit_python(spec)
    assert _imported(source) == {"torch", *spec.get("plugins", ())}  # and a plugin's module, if any
    emitted = _emitted_module(source, tmp_path, spec["name"])
    emitted.load_state_dict(built.state_dict())
    x = example_input(spec)
    for train in (False, True):
        built.train(train)
        emitted.train(train)
        with torch.no_grad():
            torch.manual_seed(1)
            expected = built(x.clone())
            torch.manual_seed(1)
            got = emitted(x.clone())
        assert torch.equal(expected, got), f"emitted and built modules differ (train={train})"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@parametrize
def test_graph_dot_parses_and_draws_the_op(case):
    op, spec, path, prefix = case
    digraph = archc.graph(spec)
    canonical = digraph.pipe(format="canon", encoding="utf-8")  # dot exits non-zero on DOT it cannot parse
    assert canonical.startswith("digraph")
    label = html.escape(the_node(archc.analyze(spec), op).label)
    assert label in digraph.source


@parametrize
def test_onnx_export_matches_onnx_runtime(case, tmp_path):
    import onnxruntime

    op, spec, path, prefix = case
    target = tmp_path / "model.onnx"
    report = archc.export_onnx(spec, target)
    assert all(p.ok for p in report.parity)
    model = archc.build(spec, seed=0).eval()  # export_onnx builds with seed 0 too
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    x = example_input(spec, seed=3)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
