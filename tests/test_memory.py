"""`archc memory` and `archc.memory`: op traits, model state, checkpointing, the CLI, no torch import.

The zoo-wide proofs (every bundled spec against torch) are in test_memory_zoo.py.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch
import torchvision
from conftest import PLUGINS, ROOT, SPECS, isolated_plugins
from hypothesis import given, settings
from hypothesis import strategies as st
from memory_probe import LiveTensors, inference_peak_bytes, saved_bytes, state_storages
from test_op_completeness import example_spec
from torch.utils.checkpoint import checkpoint

import archc
from archc.cli import run
from archc.footprint import FIELDS, Settings, memory_of
from archc.footprint_text import parse_size
from archc.ops import REGISTRY
from archc.pipeline import Source
from archc.plugins import load_plugins


def test_every_registered_op_declares_its_memory():
    missing = [name for name, op in REGISTRY.items() if op.memory is None]
    assert not missing, f"ops without a memory= trait (archc.op.Memory): {missing}"


def test_an_op_without_the_trait_is_a_located_error(monkeypatch, capsys):
    graph = archc.analyze(SPECS / "lenet5.yaml")
    monkeypatch.setitem(REGISTRY, "tanh", dataclasses.replace(REGISTRY["tanh"], memory=None))
    with pytest.raises(archc.SpecError) as info:
        memory_of(graph)
    assert "the op 'tanh' declares no memory trait" in str(info.value)
    assert "lenet5.yaml:" in str(info.value)
    capsys.readouterr()
    code = run(["shapes", str(SPECS / "lenet5.yaml")])
    assert code == 0 and "memory: unknown (the op 'tanh' declares no memory trait" in capsys.readouterr().out


# -- ops the bundled specs do not use, each measured by torch -------------------------------------

OP_SPECS = {
    "gelu": ("[4, 8, 8]", "[conv: {out: 4, kernel: 3}, gelu, conv: {out: 2, kernel: 1}]"),
    "gelu tanh, silu": ("[4, 8, 8]", "[conv: {out: 4, kernel: 1}, gelu: {approximate: tanh}, silu]"),
    "leaky_relu, softmax": ("[4, 8, 8]", "[conv: {out: 4, kernel: 1}, leaky_relu: {slope: 0.2}, softmax]"),
    "adaptive_maxpool, identity": ("[4, 8, 8]", "[conv: {out: 4, kernel: 1}, adaptive_maxpool: {out: 2}, identity,"
                                                " flatten, linear: {out: 3}]"),
    "adaptive_avgpool 2x2": ("[4, 8, 8]", "[conv: {out: 4, kernel: 1}, adaptive_avgpool: {out: 2}, flatten,"
                                          " linear: {out: 3}]"),
    "dropout p=0 and p=1": ("[6]", "[linear: {out: 5}, dropout: {p: 0.0}, linear: {out: 4}, dropout: {p: 1.0},"
                                   " linear: {out: 3}]"),
    "dropout, tanh": ("[6]", "[linear: {out: 5}, dropout: {p: 0.3}, tanh, linear: {out: 3}]"),
    "lrn on [N, C, L]": ("[5, 16]", "[batchnorm, lrn: {size: 3}, flatten, linear: {out: 2}]"),
    "lrn wide": ("[3, 6, 6]", "[conv: {out: 2, kernel: 1}, lrn: {size: 7}]"),
    "relu on the input": ("[4, 8, 8]", "[relu, maxpool: {kernel: 2}, conv: {out: 2, kernel: 1}]"),
    "add, in-place relu": ("[4, 8, 8]", "[add: {a: [conv: {out: 4, kernel: 1}],"
                                        " b: [conv: {out: 4, kernel: 3, padding: 1}]}, relu]"),
    # window attention's rules name the points of its forward where the eval peak may lie; with one head,
    # the batched matmuls take views of qkv where they otherwise copy
    **{f"window attention v{v}, {heads} head(s), window {win}, shift {shift}, {size}x{size}":
       (f"[6, {size}, {size}]", (f"[conv: {{out: 6, kernel: 1}}, permute: {{dims: [0, 2, 3, 1]}}, window_attention: "
                                 f"{{heads: {heads}, window: {win}, shift: {shift}, version: {v}, pad: true}}]"))
       for v, heads, win, shift, size in [(1, 3, 2, 1, 5), (1, 1, 3, 1, 9), (1, 2, 2, 0, 4), (2, 2, 3, 1, 5),
                                          (2, 1, 2, 0, 8), (2, 3, 2, 1, 6)]},
}


@pytest.mark.parametrize("case", list(OP_SPECS))
def test_op_traits_match_torch(case):
    shape, layers = OP_SPECS[case]
    source = Source.text(f"name: probe\ninput: {shape}\nlayers: {layers}\n")
    model = archc.build(source, seed=0)
    for batch in (2, 5):
        x = torch.randn(batch, *archc.analyze(source).input_shape)
        totals = archc.memory(source, batch=batch, device="cpu").totals()
        torch.manual_seed(0)
        assert totals["activations_bytes"] == saved_bytes(model, x), batch
        assert totals["inference_peak_bytes"] == inference_peak_bytes(model, x), batch


def test_dropout_mask_is_bool_on_cuda():
    source = Source.text("name: d\ninput: [6]\nlayers: [linear: {out: 8}, dropout: {p: 0.5}, linear: {out: 2}]\n")
    cpu, cuda = (archc.memory(source, batch=4, device=d).totals()["activations_bytes"] for d in ("cpu", "cuda"))
    assert cpu - cuda == 4 * 8 * (4 - 1)  # the mask: float32 on CPU, bool on CUDA


# -- model state against torch's own tensors ---------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p),
    "adamw": lambda p: torch.optim.AdamW(p),
}


@pytest.mark.parametrize("dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_params_grads_and_optimizer_state_match_a_torch_step(name, dtype):
    label, torch_dtype = dtype
    model = archc.build(SPECS / "lenet5.yaml", seed=0).to(torch_dtype)
    optimizer = OPTIMIZERS[name](model.parameters())
    model(torch.randn(2, 1, 28, 28, dtype=torch_dtype)).sum().backward()
    optimizer.step()
    state = sum(t.untyped_storage().nbytes() for s in optimizer.state.values() for t in s.values()
                if isinstance(t, torch.Tensor) and t.dim() > 0)  # the 0-d 'step' counters are not counted
    totals = archc.memory(SPECS / "lenet5.yaml", dtype=label, optimizer=name).totals()
    assert totals["params_bytes"] == sum(p.untyped_storage().nbytes() for p in model.parameters())
    assert totals["grads_bytes"] == sum(p.grad.untyped_storage().nbytes() for p in model.parameters())
    assert totals["optimizer_bytes"] == state


def test_bf16_activations_match_torch_within_one_percent():
    shape = (3, 32, 32)
    model = archc.build(SPECS / "resnet18.yaml", input_shape=shape, seed=0).to(torch.bfloat16)
    x = torch.randn(2, *shape, dtype=torch.bfloat16)
    predicted = archc.memory(SPECS / "resnet18.yaml", batch=2, dtype="bf16", input_shape=shape, device="cpu")
    measured = saved_bytes(model, x)
    assert abs(predicted.totals()["activations_bytes"] - measured) <= 0.01 * measured


# -- checkpointing: torchvision's resnet18 with torch.utils.checkpoint on two stages ----------------

class Checkpointed(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return checkpoint(self.inner, x, use_reentrant=False)


def kept_by_forward(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Non-parameter storages alive after a train-mode forward (what backward will read), output excluded."""
    model.train()
    with LiveTensors(state_storages(model), [x]) as mode:
        out = model(x)
    return mode.live() - out.untyped_storage().nbytes()


def test_checkpoint_what_if_matches_torch_utils_checkpoint():
    x = torch.randn(2, 3, 32, 32)
    model = torchvision.models.resnet18()
    model.layer1, model.layer3 = Checkpointed(model.layer1), Checkpointed(model.layer3)
    report = archc.memory(SPECS / "resnet18.yaml", batch=2, input_shape=(3, 32, 32), device="cpu",
                          checkpoint=("layer1", "layer3"))
    assert report.totals()["activations_bytes"] == kept_by_forward(model, x)  # the input is kept (conv1 saves it)
    plain = archc.memory(SPECS / "resnet18.yaml", batch=2, input_shape=(3, 32, 32), device="cpu")
    assert report.totals()["activations_bytes"] < plain.totals()["activations_bytes"]
    assert report.recompute.at(2) > 0 and report.totals()["total_train_bytes"] > (
        report.totals()["activations_bytes"] + 4 * report.totals()["params_bytes"])


# -- budgets, sizes, the JSON and the CLI ------------------------------------------------------------

def test_max_batch_is_the_largest_that_fits():
    for mode in ("train", "infer"):
        report = archc.memory(SPECS / "resnet50.yaml", dtype="bf16", mode=mode)
        budget = 24 * 2 ** 30
        fits = report.max_batch(budget)
        assert report.totals(fits)["total_train_bytes"] <= budget < report.totals(fits + 1)["total_train_bytes"]


def test_parse_size():
    assert parse_size("80GiB") == 80 * 2 ** 30 and parse_size("80G") == 80 * 2 ** 30
    assert parse_size("24GB") == 24 * 10 ** 9 and parse_size("512 MiB") == 512 * 2 ** 20 and parse_size("100") == 100
    with pytest.raises(ValueError):
        parse_size("lots")


def cli(capsys, *args):
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_keys_and_layers(capsys):
    code, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--json", "--batch", "4", "--depth", "1")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {*FIELDS, "batch", "dtype", "layers", "world_size", "shard", "ddp_bucket_bytes",
                         "fsdp_gathered_bytes"} and data["batch"] == 4 and data["dtype"] == "fp32"
    assert (data["world_size"], data["shard"], data["ddp_bucket_bytes"], data["fsdp_gathered_bytes"]) == (1, "none", 0, 0)
    assert [row["path"] for row in data["layers"]][:6] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2"]
    assert sum(row["activations_bytes"] for row in data["layers"]) == data["activations_bytes"]
    assert sum(row["params_bytes"] for row in data["layers"]) == data["params_bytes"]
    assert data["inference_peak_bytes"] == max(row["inference_peak_bytes"] for row in data["layers"])


def test_infer_mode_counts_no_gradients(capsys):
    code, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--json", "--mode", "infer")
    data = json.loads(out)
    assert code == 0 and data["activations_bytes"] == data["grads_bytes"] == data["optimizer_bytes"] == 0
    assert data["total_train_bytes"] == data["params_bytes"] + data["inference_peak_bytes"]


def test_table_and_usage_errors(capsys):
    code, out, _ = cli(capsys, "memory", SPECS / "googlenet.yaml", "--depth", "1", "--dtype", "bf16")
    assert code == 0 and "training total:" in out and "inception3a" in out
    code, _, err = cli(capsys, "memory", SPECS / "resnet18.yaml", "--checkpoint", "layer9")
    assert code == 2 and "--checkpoint layer9: no scope or layer" in err
    code, _, err = cli(capsys, "memory", SPECS / "resnet18.yaml", "--dtype", "int8")
    assert code == 2


def test_shapes_prints_a_memory_line_with_a_budget(capsys):
    code, out, _ = cli(capsys, "shapes", SPECS / "resnet50.yaml", "--budget", "24GiB")
    line = next(line for line in out.splitlines() if line.startswith("memory"))
    fits = archc.memory(SPECS / "resnet50.yaml").max_batch(24 * 2 ** 30)
    assert code == 0 and f"up to batch {fits:,}" in line and "24 GiB" in line
    code, _, err = cli(capsys, "shapes", SPECS / "resnet50.yaml", "--budget", "lots")
    assert code == 2 and "--budget" in err


# -- no torch on the static path ---------------------------------------------------------------------

def imported_modules(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")]


def test_memory_command_does_not_import_torch():
    imported = imported_modules("-c", "from archc.cli import entry; entry()", "memory",
                                str(SPECS / "densenet121.yaml"), "--json")
    assert "archc.footprint" in imported
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]


def test_memory_api_does_not_import_torch():
    imported = imported_modules("-c", f"import archc; archc.memory({str(SPECS / 'resnet50.yaml')!r}, batch=8)")
    assert "archc.footprint" in imported
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]


def test_settings_are_checked():
    graph = archc.analyze(SPECS / "lenet5.yaml")
    for bad in (Settings(batch=0), Settings(optimizer="lion"), Settings(mode="eval")):
        with pytest.raises(ValueError):
            memory_of(graph, bad)


# -- random layer stacks against torch (in-place choices, views and shared storages) ------------------

LAYERS = ["conv: {out: 4, kernel: 1}", "conv: {out: 4, kernel: 3, padding: 1, bias: false}", "batchnorm", "relu",
          "tanh", "sigmoid", "silu", "gelu", "leaky_relu", "softmax", "dropout: {p: 0.5}", "identity",
          "lrn: {size: 3}", "avgpool: {kernel: 1}", "maxpool: {kernel: 1}",
          "add: {a: [relu], b: [conv: {out: 4, kernel: 1}]}", "concat: {a: [identity], b: [tanh]}"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=6))
def test_random_stacks_match_torch(layers):
    body = ", ".join(["conv: {out: 4, kernel: 1}", *layers, "conv: {out: 4, kernel: 1}"])
    source = Source.text(f"name: fuzz\ninput: [3, 6, 6]\nlayers: [{body}]\n")
    try:
        model = archc.build(source, seed=0)
    except archc.SpecError:  # concat doubles the channels; a following add of 4 channels may not fit
        return
    x = torch.randn(2, 3, 6, 6)
    totals = archc.memory(source, batch=2, device="cpu").totals()
    assert totals["activations_bytes"] == saved_bytes(model, x)
    assert totals["inference_peak_bytes"] == inference_peak_bytes(model, x)


UNITS = [("", 1), ("B", 1), ("KiB", 2 ** 10), ("MiB", 2 ** 20), ("GiB", 2 ** 30), ("G", 2 ** 30), ("GB", 10 ** 9),
         ("kb", 1000), ("TiB", 2 ** 40)]


@given(st.integers(0, 10 ** 6), st.sampled_from(UNITS))
def test_parse_size_units(n, unit):
    suffix, factor = unit
    assert parse_size(f"{n}{suffix}") == n * factor


def test_the_example_plugin_declares_what_it_saves(plugin_scope):
    """examples/plugins/se.py's op (a module of five torch calls) against torch, inside its SE-ResNet."""
    spec = ROOT / "examples" / "plugins" / "se_resnet.yaml"
    plugin = str(ROOT / "examples" / "plugins" / "se.py")
    model = archc.build(spec, seed=0, plugins=[plugin])
    x = torch.randn(2, 3, 32, 32)
    totals = archc.memory(spec, batch=2, device="cpu", plugins=[plugin]).totals()
    assert totals["activations_bytes"] == saved_bytes(model, x)
    assert totals["inference_peak_bytes"] == inference_peak_bytes(model, x)


# -- every registered op's example (archc.op.Example), behind a layer that makes its input need grad -------

with isolated_plugins():
    load_plugins([PLUGINS / "se.py"])
    PLUGIN_OPS = sorted(name for name, op in REGISTRY.items() if op.plugin)
EXAMPLES = [pytest.param((name, None), id=name) for name in sorted(REGISTRY)] + \
           [pytest.param((name, PLUGINS / "se.py"), id=f"plugin-{name}") for name in PLUGIN_OPS]
FIRST = {1: {"linear": {"out": None}}, 2: {"batchnorm": None}, 3: {"conv": {"out": None, "kernel": 1}}}


@pytest.mark.parametrize("case", EXAMPLES)
def test_every_ops_example_matches_torch(case):
    name, plugin = case
    with isolated_plugins():
        if plugin:
            load_plugins([plugin])
        spec = example_spec(REGISTRY[name])
        if not REGISTRY[name].merge:  # a layer with parameters first, so the op's input needs grad
            first = json.loads(json.dumps(FIRST[len(spec["input"])]))
            for attrs in first.values():
                if attrs and "out" in attrs:
                    attrs["out"] = spec["input"][0]
            spec["layers"] = [first, *spec["layers"]]
        source = Source.mapping(spec)
        model = archc.build(source, seed=0)
        x = torch.randn(2, *archc.analyze(source).input_shape)
        totals = archc.memory(source, batch=2, device="cpu").totals()
        assert totals["activations_bytes"] == saved_bytes(model, x), spec
        assert totals["inference_peak_bytes"] == inference_peak_bytes(model, x), spec
