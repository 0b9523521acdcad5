"""The zoo, statically: every spec's parameter count, output shape and MACs against its reference.

References are torchvision's models and the seeds' own networks (tests/seed_reference.py), both built
on the meta device: shapes without memory, weights or arithmetic. MACs are compared with torch's
FlopCounterMode, which counts exactly the conv and matmul FLOPs (2 per multiply-accumulate).
"""

from __future__ import annotations

import json
import re

import pytest
import torch
import torchvision.models as tvm
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archc
import cnn_zoo
import seed_reference as seeds
from archc.cli import run
from conftest import SPECS

# spec -> (torchvision constructor, its kwargs)
TORCHVISION = {
    "alexnet": (tvm.alexnet, {}),
    "alexnet_finetune": (tvm.alexnet, {"num_classes": 2}),
    **{f"vgg{d}{bn}": (getattr(tvm, f"vgg{d}{bn}"), {}) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "googlenet": (tvm.googlenet, {"aux_logits": True, "init_weights": False}),
    **{f"resnet{d}": (getattr(tvm, f"resnet{d}"), {}) for d in (18, 34, 50, 101, 152)},
    **{f"densenet{d}": (getattr(tvm, f"densenet{d}"), {}) for d in (121, 161, 169, 201)},
    **{f"convnext_{s}": (getattr(tvm, f"convnext_{s}"), {}) for s in ("tiny", "small", "base", "large")},
}

# spec -> seed reference (a factory of the seed's network, unmaterialised)
SEEDS = {
    "lenet5": seeds.LeNet5,
    "alexnet_paper": lambda: seeds.AlexNetPaper(num_classes=1000),
    "lenet": seeds.d2l_lenet,
    "bn_lenet": seeds.d2l_bn_lenet,
    "vgg_small": seeds.d2l_vgg,
    "nin": seeds.d2l_nin,
    "googlenet_d2l": seeds.d2l_googlenet,
    "resnet_d2l": seeds.d2l_resnet,
    "densenet_bc_100": seeds.DenseNetBC,
}


def spec(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


def on_meta(name: str) -> nn.Module:
    ctor, kwargs = TORCHVISION[name]
    with torch.device("meta"):
        return ctor(weights=None, **kwargs)


def torch_macs(model: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_spec_file_is_covered():
    names = {p.stem for p in SPECS.glob("*.yaml")}
    bases = {"resnet", "vgg", "densenet", "convnext", *cnn_zoo.BASES}       # family bases, each equal to a covered variant
    transformers = {n for n in names if n.startswith(("vit", "swin", "maxvit"))}   # tests/test_zoo_transformers.py
    assert names - bases - transformers == set(TORCHVISION) | set(SEEDS) | set(cnn_zoo.BUILDERS)  # the latter: test_zoo_cnn.py


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_matches_torchvision_statically(name):
    graph = archc.analyze(spec(name))
    model = on_meta(name)
    x = torch.zeros(1, *graph.input_shape, device="meta")
    # googlenet's aux heads only run in training; the spec counts them, so count them in torch too
    model.train(name == "googlenet")
    assert graph.total_params == numel(model)
    assert graph.total_macs == torch_macs(model, x)
    out = model.eval()(x)
    assert graph.shape_of(graph.outputs[0].node) == tuple(out.shape[1:])


@pytest.mark.parametrize("name", ["alexnet", "resnet50", "googlenet"])
def test_num_classes_param_matches_torchvision(name):
    graph = archc.analyze(spec(name), {"num_classes": 10})
    ctor, kwargs = TORCHVISION[name]
    with torch.device("meta"):
        model = ctor(weights=None, **{**kwargs, "num_classes": 10})
    assert graph.total_params == numel(model)
    assert all(graph.shape_of(o.node) == (10,) for o in graph.outputs)


def test_googlenet_without_aux_heads_matches_torchvision():
    graph = archc.analyze(spec("googlenet"), {"aux_logits": False})
    with torch.device("meta"):
        model = tvm.googlenet(weights=None, aux_logits=False, init_weights=False)
    assert graph.total_params == numel(model)
    assert [o.train_only for o in graph.outputs] == [False]
    assert graph.total_macs == torch_macs(model.train(), torch.zeros(1, 3, 224, 224, device="meta"))


def test_googlenet_aux_outputs_are_train_only_in_torchvision_order():
    graph = archc.analyze(spec("googlenet"))
    assert [(o.name, o.train_only) for o in graph.outputs] == [("fc", False), ("aux2", True), ("aux1", True)]


def seed_on_meta(name: str, input_shape) -> nn.Module:
    with torch.device("meta"):
        return seeds.materialize(SEEDS[name](), input_shape, "meta")


def weighted_layer_shapes(model: nn.Module, input_shape) -> list[tuple]:
    """Output shapes (batch dropped) of the reference's leaf modules that own parameters, in call order."""
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for m in model.modules() if not list(m.children()) and list(m.parameters(recurse=False))]
    with torch.no_grad():
        model.eval()(torch.zeros(2, *input_shape, device="meta"))
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_matches_seed_network(name):
    graph = archc.analyze(spec(name))
    model = seed_on_meta(name, graph.input_shape)
    assert graph.total_params == numel(model)
    expected = weighted_layer_shapes(model, graph.input_shape)
    assert [n.shape for n in graph.nodes if n.params] == expected
    with torch.no_grad():
        out = model.eval()(torch.zeros(2, *graph.input_shape, device="meta"))
    assert graph.shape_of(graph.outputs[0].node) == tuple(out.shape[1:])
    assert graph.total_macs == torch_macs(model, torch.zeros(1, *graph.input_shape, device="meta"))


def printed_shapes(text: str) -> list[list[int]]:
    return [[int(v) for v in m.split(",")][1:] for m in re.findall(r"torch\.Size\(\[([\d, ]+)\]\)", text)]


@pytest.mark.parametrize("name, depth", [("lenet", 0), ("nin", 1), ("resnet_d2l", 1)])
def test_archc_shapes_prints_the_seed_layer_summary(name, depth, capsys):
    assert run(["shapes", "--json", "--depth", str(depth), spec(name)]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    assert [row["shape"] for row in rows] == printed_shapes(seeds.PRINTED_SUMMARIES[name])


def test_alexnet_paper_with_seed_004s_ten_classes():
    graph = archc.analyze(spec("alexnet_paper"), {"num_classes": 10})        # seed 004: NUM_CLASSES = 10
    with torch.device("meta"):
        model = seeds.AlexNetPaper(num_classes=10)
    assert graph.total_params == numel(model)
    assert graph.shape_of(graph.outputs[0].node) == (10,)


def printed_leaves(tree: str) -> dict[str, str]:
    """A printed module tree (one line, as seed 000 prints it) as {dotted path: 'Class(args)'} of its leaves."""
    leaves, scope, pos = {}, [], tree.index("(") + 1
    token = re.compile(r"\s*(?:\((\w+)\): (\w+)\(|\))")
    while (m := token.match(tree, pos)) and (m.group(1) or scope):
        pos = m.end()
        if not m.group(1):
            scope.pop()
        elif m.group(2) == "Sequential":
            scope.append(m.group(1))
        else:                                            # a leaf: its arguments up to the matching ")"
            depth, end = 1, pos
            while depth:
                depth += {"(": 1, ")": -1}.get(tree[end], 0)
                end += 1
            leaves[".".join([*scope, m.group(1)])] = f"{m.group(2)}({tree[pos:end - 1]})"
            pos = end
    assert tree[pos:].strip() == ")", tree[pos:]
    return leaves


def settings(module: nn.Module) -> dict:
    """A module's constructor settings, ints and (n, n) pairs made equal (MaxPool2d(3) == MaxPool2d((3, 3)))."""
    pair = lambda v: v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v  # noqa: E731
    return {k: pair(v) for k, v in vars(module).items() if not k.startswith("_") and k != "training"}


def test_alexnet_finetune_is_the_module_tree_seed_000_prints():
    with torch.device("meta"):
        model = archc.build(spec("alexnet_finetune"))
    printed = printed_leaves(seeds.ALEXNET_FINETUNE_TREE)
    assert len(printed) == 21 and printed["classifier.6"] == "Linear(in_features=4096, out_features=2, bias=True)"
    for path, text in printed.items():
        expected = eval(text, vars(nn))                 # the seed's own text, constructed by torch
        mine = model.get_submodule(path)
        assert type(mine) is type(expected) and settings(mine) == settings(expected), path
    weighted = {n for n, m in model.named_modules() if list(m.parameters(recurse=False))}
    assert weighted <= set(printed)


@pytest.mark.parametrize("name", sorted(n for n in TORCHVISION if n != "alexnet_finetune"))
def test_macs_and_params_are_torchvisions_published_numbers(name):
    """torchvision's weight metadata (no download) states `_ops` in GFLOPs-as-MACs and `num_params`."""
    meta = tvm.get_model_weights(name).DEFAULT.meta
    graph = archc.analyze(spec(name), {"aux_logits": False} if name == "googlenet" else None)
    assert graph.total_params == meta["num_params"]
    assert round(graph.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)
