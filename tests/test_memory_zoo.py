"""`archc memory` against torch itself, for every bundled spec at two batch sizes (small inputs).

- activations_bytes: the unique non-parameter storages autograd saves in a train-mode forward of
  the built module (saved_tensors_hooks), within 1% (it comes out exact);
- inference_peak_bytes: the peak of live tensor storages over the ATen ops of an eval, no-grad
  forward (a TorchDispatchMode), exactly.
Both on CPU (device="cpu": dropout saves its mask in the activations' dtype there).

Specs over BUILD_LIMIT parameters (ConvNeXt-L, ViT-L and ViT-H) are not built here: a real CPU build
takes GiBs, and their layers are those of their families' smaller members, which are built and checked.
"""

from __future__ import annotations

import ctypes
import gc

import pytest
import torch
from conftest import SPECS
from memory_probe import inference_peak_bytes, saved_bytes

import archc

ALL = sorted(p.stem for p in SPECS.glob("*.yaml"))
SLOW = {"densenet", "densenet161", "densenet169", "densenet201", "densenet_bc_100", "resnet101", "resnet152",
        "vgg", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
        *(f"regnet_{kind}_{size}" for kind in "xy" for size in ("8gf", "16gf", "32gf")), "regnet_y_128gf"}
BATCHES = (2, 3)  # batch norm in train mode needs more than one value per channel
BUILD_LIMIT = 150_000_000  # parameters


def small_enough(name: str) -> bool:
    return archc.analyze(SPECS / f"{name}.yaml").total_params <= BUILD_LIMIT


def small_input(name: str) -> tuple[int, ...]:
    """The smallest square input (32 to 96) the spec accepts, else its own."""
    path = SPECS / f"{name}.yaml"
    channels = archc.analyze(path).input_shape[0]
    for size in (32, 48, 64, 96):
        try:
            return archc.analyze(path, input_shape=(channels, size, size)).input_shape
        except archc.SpecError:
            continue
    return archc.analyze(path).input_shape


def built(name: str):
    shape = small_input(name)
    torch.manual_seed(0)
    return shape, archc.build(SPECS / f"{name}.yaml", input_shape=shape, seed=0)


@pytest.fixture(autouse=True)
def _give_memory_back():
    """Return freed heap pages to the system after each model, so one worker does not grow by each build."""
    yield
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in ALL if small_enough(n)])
def test_static_memory_equals_what_torch_keeps(name):
    shape, model = built(name)
    for batch in BATCHES:
        x = torch.randn(batch, *shape)
        report = archc.memory(SPECS / f"{name}.yaml", batch=batch, device="cpu", input_shape=shape).totals()
        measured = saved_bytes(model, x)
        assert measured > 0
        assert abs(report["activations_bytes"] - measured) <= 0.01 * measured, (batch, report, measured)
        assert report["inference_peak_bytes"] == inference_peak_bytes(model, x), batch
