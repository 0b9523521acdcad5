"""The zoo, numerically: each spec, built, computes exactly what its reference computes.

A reference's weights (torchvision's model, or the seed's own network from tests/seed_reference.py)
are loaded into the built spec; batch-norm weights and running statistics are randomised first, so a
misplaced norm layer cannot hide behind its identity initialisation. Inputs are small where the
architecture allows (adaptive pooling), to keep CI fast.
"""

from __future__ import annotations

import json

import pytest
import torch
import torchvision.models as tvm
from torch import nn

import archc
import seed_reference as seeds
from archc.cli import run
from conftest import SPECS
from test_zoo_static import SEEDS, TORCHVISION

TOL = 1e-5
SLOW = {"vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "resnet101", "resnet152",
        "densenet161", "densenet201", "convnext_small", "convnext_base", "convnext_large"}


def spec(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Weights that make every layer matter: variance-preserving convs and linears, random biases and
    batch-norm statistics (fresh torchvision weights can leave outputs nearly independent of the input)."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(tensor, low, high):
        tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    uniform(m.bias, -0.1, 0.1)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                for tensor, low, high in ((m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5),
                                          (m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 1.5)):
                    uniform(tensor, low, high)
            elif isinstance(m, nn.LayerNorm) and m.weight is not None:
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.5, 0.5)
            if isinstance(getattr(m, "layer_scale", None), nn.Parameter):   # ConvNeXt: 1e-6 would hide a branch
                uniform(m.layer_scale, 0.5, 1.0)
    return model


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def assert_same_function(model: nn.Module, reference: nn.Module, x: torch.Tensor) -> None:
    """Equal outputs within TOL, on outputs that depend on the input (else equality would prove little)."""
    ours, theirs = eval_outputs(model, x), eval_outputs(reference, x)
    assert max_diff(ours, theirs) <= TOL
    assert max_diff(theirs[0], theirs[1]) > 100 * TOL, "the reference's output hardly depends on its input"


def eval_outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def torchvision_model(name: str, **overrides) -> nn.Module:
    ctor, kwargs = TORCHVISION[name]
    torch.manual_seed(0)
    return randomize(ctor(weights=None, **{**kwargs, **overrides}))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(TORCHVISION)])
def test_equals_torchvision(name):
    reference = torchvision_model(name)
    model = archc.build(spec(name), input_shape=(3, 64, 64), seed=1)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


@pytest.mark.parametrize("name, params", [
    ("alexnet", {"num_classes": 10}),
    ("resnet18", {"num_classes": 10}),
    ("densenet121", {"num_classes": 10}),
    ("googlenet", {"num_classes": 10, "aux_logits": False}),
])
def test_equals_torchvision_with_other_params(name, params):
    reference = torchvision_model(name, **params)
    model = archc.build(spec(name), input_shape=(3, 64, 64), seed=1, **params)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


def test_googlenet_train_mode_returns_logits_and_both_aux_heads_like_torchvision():
    reference = torchvision_model("googlenet", num_classes=10).train()
    model = archc.build(spec("googlenet"), input_shape=(3, 64, 64), seed=1, num_classes=10).train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)                 # the same dropout masks, drawn in the same order
    expected = reference(x)
    torch.manual_seed(3)
    outputs = model(x)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    for got, want in zip(outputs, expected):            # (logits, aux2, aux1)
        assert max_diff(got, want) <= TOL


def seed_network(name: str, input_shape) -> nn.Module:
    torch.manual_seed(0)
    return randomize(seeds.materialize(SEEDS[name](), input_shape))


def load_by_name(model: nn.Module, reference: nn.Module) -> None:
    """The seed's state dict under the spec's names (d2l's networks live in `self.net`: no prefix)."""
    model.load_state_dict({k.removeprefix("net."): v for k, v in reference.state_dict().items()}, strict=True)


def load_by_order(model: nn.Module, reference: nn.Module) -> None:
    """Parameters copied in order, for seeds named differently (d2l's nested VGG, the scratch BatchNorm)."""
    pairs = list(zip(model.parameters(), reference.parameters(), strict=True))
    with torch.no_grad():
        for mine, theirs in pairs:
            assert mine.numel() == theirs.numel()
            mine.copy_(theirs.reshape(mine.shape))


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_equals_seed_network(name):
    graph = archc.analyze(spec(name))
    reference = seed_network(name, graph.input_shape)
    model = archc.build(spec(name), seed=1)
    (load_by_order if name in ("vgg_small", "bn_lenet") else load_by_name)(model, reference)
    x = torch.randn(2, *graph.input_shape, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shapes_json_total_equals_built_module(path, capsys):
    assert run(["shapes", "--json", str(path)]) == 0
    total = json.loads(capsys.readouterr().out)["totals"]["params"]
    with torch.device("meta"):                              # counts without allocating weights
        model = archc.build(str(path))
    assert total == sum(p.numel() for p in model.parameters())
