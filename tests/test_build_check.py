"""`archc build --check`: runtime shapes on the meta device equal the static ones, for every bundled spec."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archc.emit.build import build_from_graph, plain
from archc.emit.check import check_shapes
from archc.pipeline import analyze_doc, load
from conftest import SPECS


def meta_model(path):
    doc = load(str(path))
    graph = analyze_doc(doc)
    return graph, build_from_graph(graph, plain(doc), device="meta")


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_runtime_shapes_match_static_shapes(path):
    graph, model = meta_model(path)
    checked, mismatches = check_shapes(graph, model)
    assert mismatches == []
    assert checked == sum(1 for n in graph.nodes if n.module is not None and not n.spec.tensor)  # tensors: no hook


def test_a_wrong_static_shape_is_reported_with_the_layer_name():
    graph, model = meta_model(SPECS / "resnet18.yaml")
    node = graph.by_id["layer2.0.conv1"]
    node.shape = (128, 27, 27)
    _, mismatches = check_shapes(graph, model)
    assert [str(m) for m in mismatches] == [
        "layer 'layer2.0.conv1': static shape [N, 128, 27, 27], runtime [N, 128, 28, 28]"]


def run(*args):
    return subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", *args],
                          capture_output=True, text=True)


def test_cli_check_and_summary():
    result = run("build", str(SPECS / "resnet50.yaml"), "--check", "--set", "num_classes=10")
    assert result.returncode == 0, result.stderr
    assert "(23,528,522 parameters)" in result.stdout  # torchvision resnet50(num_classes=10)
    assert "|- layer1: Sequential" in result.stdout and result.stdout.isascii()  # piped: ASCII
    assert "check: the runtime shapes of all" in result.stdout


def test_cli_spec_error_exits_1():
    result = run("build", str(SPECS / "resnet18.yaml"), "--set", "num_clases=3")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
