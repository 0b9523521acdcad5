"""examples/: the training scripts run (fewer steps) and their loss falls; the custom YAML checks out.

The scripts run in a fresh process, as a user would run them, and must exit 0 (each exits 1 when its
loss did not fall); tests/test_doc_commands.py runs every `archc` command in examples/README.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import torch

import archc
from archc.cli import run
from conftest import ROOT

EXAMPLES = ROOT / "examples"
CUSTOM = EXAMPLES / "custom_architecture.yaml"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT.parent)


def mean_losses(stdout: str) -> tuple[float, float]:
    first, last = re.search(r"first \d+ steps ([\d.]+), of the last \d+ steps ([\d.]+)", stdout).groups()
    return float(first), float(last)


def test_train_lenet5_loss_falls_and_accuracy_beats_chance():
    result = run_script("train_lenet5.py", "--steps", "40")
    assert result.returncode == 0, result.stderr
    first, last = mean_losses(result.stdout)
    assert last < 0.7 * first
    assert "built lenet5.yaml: 61,706 parameters" in result.stdout
    accuracy = float(re.search(r"accuracy after training: ([\d.]+)%", result.stdout).group(1))
    assert accuracy > 30                                        # ten classes: chance is 10%


def test_train_lenet5_exits_1_when_the_loss_does_not_fall():
    result = run_script("train_lenet5.py", "--steps", "1")     # one step: first and last loss are the same
    assert result.returncode == 1
    assert "the loss did not fall by 30%: the mean of the last 1 steps" in result.stderr  # the rule, stated


def test_finetune_alexnet_skips_only_the_head_and_trains_it():
    result = run_script("finetune_alexnet.py", "--steps", "20", "--size", "64")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "copied 14 of 16 tensors; skipped (shape differs): classifier.6.weight (1000, 4096), " \
           "classifier.6.bias (1000,)" in out
    assert "left at their new initial values: classifier.6.weight, classifier.6.bias" in out
    assert "training 8,194 of" in out                          # Linear(4096, 2): 4096 * 2 + 2
    first, last = mean_losses(out)
    assert last < 0.7 * first


def test_custom_architecture_validates_and_its_shapes_total_is_the_built_module(capsys):
    assert run(["validate", str(CUSTOM)]) == 0
    capsys.readouterr()
    assert run(["shapes", "--json", str(CUSTOM)]) == 0
    report = json.loads(capsys.readouterr().out)
    with torch.device("meta"):
        model = archc.build(str(CUSTOM))
    assert report["totals"]["params"] == sum(p.numel() for p in model.parameters())
    assert report["outputs"][0]["shape"] == [10]
    x = torch.zeros(2, *report["input"], device="meta")
    assert tuple(model.eval()(x).shape) == (2, 10)


def test_custom_architecture_adds_a_residual_exactly_where_a_block_keeps_its_shape():
    graph = archc.analyze(str(CUSTOM))
    expected, channels = [], 16                                 # the stem's width
    for i, (width, blocks, stride) in enumerate(graph.params["stages"]):
        for j in range(blocks):
            if (stride if j == 0 else 1) == 1 and channels == width:
                expected.append(f"stage{i + 1}.{j}")
            channels = width
    adds = [n for n in graph.nodes if n.op == "add"]
    assert [n.scopes[-1] for n in adds] == expected
    assert all(graph.shape_of(n.inputs[0]) == graph.shape_of(n.inputs[1]) == n.shape for n in adds)


def test_mobilenet_v3_cifar_gates_with_mul_and_drops_paths_more_with_depth():
    graph = archc.analyze(EXAMPLES / "mobilenet_v3_cifar.yaml")
    muls = [n for n in graph.nodes if n.op == "mul"]
    assert muls and all(graph.shape_of(n.inputs[1])[1:] == (1, 1) for n in muls)
    drops = [n.attrs["p"] for n in graph.nodes if n.op == "stochastic_depth"]
    assert len(drops) >= 2 and drops == sorted(drops) and drops[-1] < 0.1
    assert graph.shape_of(graph.outputs[0].node) == (10,)
