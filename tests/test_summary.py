"""The `shapes` table against torchinfo's summary of the built module, and `freeze:` against requires_grad."""

from __future__ import annotations

import json
import re

import pytest
import torch
import torchinfo

import archc
from archc import report
from archc.cli import run
from conftest import SPECS

torch.set_num_threads(1)

FROZEN = """\
name: frozen
extends: {lenet}
freeze: [feature, classifier.fc1]
"""


def frozen_spec(write_spec):
    return write_spec(FROZEN.format(lenet=SPECS / "lenet5.yaml"), "frozen.yaml")


def torchinfo_layers(model, input_shape) -> tuple[dict, object]:
    """torchinfo's leaf layers by module path: (input shape, output shape, params, trainable params)."""
    stats = torchinfo.summary(model, input_size=(1, *input_shape), depth=20, verbose=0,
                              col_names=("input_size", "output_size", "num_params", "trainable"))
    layers = {}
    for info in stats.summary_list:
        if not info.is_leaf_layer:
            continue
        path, parent = [info.var_name], info.parent_info
        while parent is not None and parent.parent_info is not None:
            path.append(parent.var_name)
            parent = parent.parent_info
        layers[".".join(reversed(path))] = (tuple(info.input_size[1:]), tuple(info.output_size[1:]), info.num_params,
                                            info.trainable_params)
    return layers, stats


@pytest.mark.parametrize("spec, input_shape", [("lenet5", (1, 28, 28)), ("googlenet_d2l", (1, 64, 64)),
                                               ("resnet18", (3, 32, 32))])
def test_rows_are_torchinfos_leaf_layers(spec, input_shape):
    graph = archc.analyze(spec, input_shape=input_shape)
    layers, _ = torchinfo_layers(archc.build(spec, input_shape=input_shape, seed=0), input_shape)
    by_module = {n.id: n.module for n in graph.nodes}
    rows = [r for r in report.rows(graph) if by_module[r.name]]
    assert {by_module[r.name] for r in rows} == set(layers)
    for row in rows:
        given, produced, params, trainable = layers[by_module[row.name]]
        assert (row.inputs[0], row.shape, row.params, row.trainable) == (given, produced, params, trainable)


def test_kernel_column_is_the_torch_layers_geometry():
    graph = archc.analyze("googlenet", input_shape=(3, 64, 64))
    model = archc.build("googlenet", input_shape=(3, 64, 64))
    checked = 0
    for node in graph.nodes:
        text = report.kernel(node)
        module = model.get_submodule(node.module) if node.module else None
        if not isinstance(module, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
            assert text == "" or node.op.endswith("pool")
            continue
        size, *rest = text.split()
        tags = dict(re.fullmatch(r"([spdg])(\d+)", part).groups() for part in rest if part != "ceil")
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        assert tuple(map(int, size.split("x"))) == pair(module.kernel_size)
        assert (int(tags.get("s", 1)),) * 2 == pair(module.stride)
        assert (int(tags.get("p", 0)),) * 2 == pair(module.padding)
        assert ("ceil" in rest) == bool(getattr(module, "ceil_mode", False))
        assert int(tags.get("g", 1)) == getattr(module, "groups", 1)
        checked += 1
    assert checked > 50


def test_trainable_totals_are_requires_grad_after_build(write_spec):
    spec = frozen_spec(write_spec)
    model = archc.build(spec)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(name.startswith(("feature.", "classifier.fc1.")) for name in frozen)
    assert all(p.requires_grad for name, p in model.named_parameters() if name.startswith("classifier.fc2."))
    totals = report.totals(archc.analyze(spec))
    _, stats = torchinfo_layers(model, (1, 28, 28))
    assert totals["trainable_params"] == stats.trainable_params == sum(
        p.numel() for p in model.parameters() if p.requires_grad)
    assert totals["non_trainable_params"] == stats.total_params - stats.trainable_params
    assert totals["params_mib"] == pytest.approx(stats.total_param_bytes / 2**20)


def test_freeze_survives_save_load_and_the_emitted_source(write_spec, tmp_path):
    spec = frozen_spec(write_spec)
    built = archc.build(spec, seed=0)
    expected = {name: p.requires_grad for name, p in built.named_parameters()}
    archc.save(built, tmp_path / "m.pt")
    assert {n: p.requires_grad for n, p in archc.load(tmp_path / "m.pt").named_parameters()} == expected
    namespace = {"__name__": "emitted"}
    exec(archc.emit_python(spec), namespace)  # noqa: S102
    emitted = namespace["Frozen"]()
    assert {n: p.requires_grad for n, p in emitted.named_parameters()} == expected


def test_a_freeze_path_that_matches_nothing_is_a_located_error(write_spec, capsys):
    spec = write_spec(f"extends: {SPECS / 'lenet5.yaml'}\nfreeze: [feature, clasifier]\n")
    assert run(["build", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:19: error: freeze: no module 'clasifier' in the model" in err
    assert "path: freeze[1]" in err and "did you mean 'classifier'" in err and "Traceback" not in err
    prefix = write_spec(f"extends: {SPECS / 'lenet5.yaml'}\nfreeze: featur\n", "prefix.yaml")
    assert run(["validate", str(prefix)]) == 1  # whole path components only: 'featur' is not 'feature'
    assert "no module 'featur'" in capsys.readouterr().err


def test_table_columns_percentages_and_frozen_rows(write_spec, capsys):
    spec = frozen_spec(write_spec)
    assert run(["shapes", str(spec), "--depth", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    model = archc.build(spec)
    total = sum(p.numel() for p in model.parameters())
    rows = {r["name"]: r for r in data["layers"]}
    for name in ("feature", "classifier"):
        part = model.get_submodule(name)
        assert rows[name]["params"] == sum(p.numel() for p in part.parameters())
        assert rows[name]["trainable_params"] == sum(p.numel() for p in part.parameters() if p.requires_grad)
        assert rows[name]["params_percent"] == pytest.approx(100 * rows[name]["params"] / total)
    assert rows["feature"]["op"] == "group" and data["freeze"] == ["feature", "classifier.fc1"]
    assert run(["shapes", str(spec)]) == 0
    out = capsys.readouterr().out
    head = next(line for line in out.splitlines() if line.startswith("layer "))
    assert head.split() == ["layer", "op", "kernel", "input", "shape", "output", "shape", "params", "%", "params",
                            "MACs", "trainable"]
    assert f"non-trainable params: {total - data['totals']['trainable_params']:,}" in out and out.isascii()


def test_unnamed_groups_at_depth_1_print_their_kind(capsys):
    assert run(["shapes", "googlenet_d2l", "--depth", "1"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[4:10]]
    assert rows == [[str(i), "group"] for i in range(5)] + [["5", "linear"]]
    graph = archc.analyze("googlenet")
    inception = {r.name: r.op for r in report.rows(graph, depth=1)}
    assert inception["inception3a"] == "inception" and inception["conv1"] == "basic_conv"
