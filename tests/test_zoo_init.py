"""The transformer specs' `init:` against torchvision's own initialisation, tensor by tensor.

For each spec, a small configuration is built by archc (seeded) and by torchvision's model class with
the same arguments. A tensor that torchvision makes the same under two seeds (a constant, an index
buffer) must be exactly equal; a random one must have the same mean, standard deviation and share of
values within one standard deviation of the mean, within five standard errors of the difference of
two samples of its size. A rule missing from a spec changes a tensor's distribution by far more.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
import yaml
from conftest import SPECS
from test_emit_python import emitted_class
from test_zoo_static import spec
from torchvision.models import convnext, maxvit, swin_transformer, vision_transformer

import archc

Z = 5.0  # standard errors allowed


@functools.cache
def _references(name: str) -> tuple[dict, dict]:
    """torchvision's state_dict of the case `name` under seeds 0 and 1."""
    make = CASES[name][-1]
    dicts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        dicts.append(make().state_dict())
    return dicts[0], dicts[1]


def _moments(x: torch.Tensor) -> tuple[float, float, float]:
    x = x.double().flatten()
    mean, std = x.mean().item(), x.std(correction=0).item()
    return mean, std, ((x - mean).abs() < std).double().mean().item()


def distribution_mismatches(ours: dict, name: str) -> list[str]:
    """The tensors of the state_dict `ours` whose values could not come from torchvision's case `name`."""
    theirs, again = _references(name)
    assert ours.keys() == theirs.keys()
    bad = []
    for key, ref in theirs.items():
        mine = ours[key]
        if mine.shape != ref.shape or mine.dtype != ref.dtype:
            bad.append(f"{key}: {tuple(mine.shape)} {mine.dtype} vs {tuple(ref.shape)} {ref.dtype}")
        elif torch.equal(ref, again[key]):                              # deterministic: constant or index
            if not torch.equal(mine, ref):
                bad.append(f"{key}: not torchvision's fixed values")
        else:
            bad.extend(f"{key}: {what}" for what in _moment_mismatches(mine, ref))
    return bad


def _moment_mismatches(mine: torch.Tensor, ref: torch.Tensor) -> list[str]:
    """Mean, std and the share within one std, each within Z standard errors of the difference of two
    samples of n values: sigma*sqrt(2/n), sigma/sqrt(n) (kurtosis 3 or less) and sqrt(p(1-p)*2/n)."""
    n = ref.numel()
    (m1, s1, p1), (m2, s2, p2) = _moments(mine), _moments(ref)
    tolerances = (("mean", m1, m2, Z * s2 * math.sqrt(2 / n)), ("std", s1, s2, Z * s2 / math.sqrt(n)),
                  ("share within 1 std", p1, p2, Z * math.sqrt(p2 * (1 - p2) * 2 / n)))
    return [f"{name} {a:.6g} vs {b:.6g} (tolerance {tol:.3g})" for name, a, b, tol in tolerances if abs(a - b) > tol]


# -- small configurations, as archc params and as torchvision's constructor arguments -----------------

SWIN = {"embed_dim": 32, "depths": [2, 1, 1, 1], "num_heads": [1, 2, 4, 8]}


def _swin(version: int, window: int):
    block = swin_transformer.SwinTransformerBlockV2 if version == 2 else swin_transformer.SwinTransformerBlock
    merge = swin_transformer.PatchMergingV2 if version == 2 else swin_transformer.PatchMerging
    return lambda: swin_transformer.SwinTransformer(
        patch_size=[4, 4], embed_dim=SWIN["embed_dim"], depths=SWIN["depths"], num_heads=SWIN["num_heads"],
        window_size=[window, window], stochastic_depth_prob=0.2, block=block, downsample_layer=merge)


MAXVIT = {"stem_channels": 16, "block_channels": [16, 32, 64, 128], "block_layers": [1, 2, 1, 1], "head_dim": 16}
VIT = {"image_size": 32, "num_layers": 2, "hidden_dim": 64, "mlp_dim": 256, "num_heads": 4, "num_classes": 10}
CONVNEXT = {"dims": [8, 16, 32, 64], "depths": [1, 1, 2, 1], "num_classes": 10}


def _convnext():
    dims, depths = CONVNEXT["dims"], CONVNEXT["depths"]
    setting = [convnext.CNBlockConfig(d, dims[i + 1] if i + 1 < len(dims) else None, n)
               for i, (d, n) in enumerate(zip(dims, depths))]
    return convnext.ConvNeXt(setting, stochastic_depth_prob=0.1, num_classes=CONVNEXT["num_classes"])


# spec -> (its base spec and the params that make it the spec, small params, input shape, torchvision's model)
CASES = {
    "swin_t": ("swin", {}, SWIN, None, _swin(1, 7)),
    "swin_v2_t": ("swin", {"version": 2, "window": 8}, SWIN, (3, 256, 256), _swin(2, 8)),
    "maxvit_t": ("maxvit_t", {}, MAXVIT, None, lambda: maxvit.MaxVit(input_size=(224, 224), partition_size=7,
                                                                     stochastic_depth_prob=0.2, **MAXVIT)),
    "vit_b_16": ("vit", {}, VIT, (3, 32, 32), lambda: vision_transformer.VisionTransformer(patch_size=16, **VIT)),
    "convnext_tiny": ("convnext", {}, CONVNEXT, None, _convnext),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_tensor_is_distributed_as_torchvision_initialises_it(name):
    _, _, params, input_shape, _ = CASES[name]
    ours = archc.build(spec(name), input_shape=input_shape, seed=0, **params).state_dict()
    assert distribution_mismatches(ours, name) == []


@pytest.mark.parametrize("name, flat", [("swin_t", False), ("swin_v2_t", False), ("swin_v2_t", True),
                                        ("maxvit_t", False), ("maxvit_t", True)])
def test_the_emitted_source_initialises_as_torchvision(name, flat):
    _, _, params, input_shape, _ = CASES[name]
    model = emitted_class(archc.emit_python(spec(name), input_shape=input_shape, flat=flat, **params))
    torch.manual_seed(0)
    assert distribution_mismatches(model().state_dict(), name) == []


def _rules(name: str) -> list[tuple[str, str]]:
    """Every (key, tensor) rule of the `init:` section of the case's base spec that its layers use."""
    base, _, params, input_shape, _ = CASES[name]
    graph = archc.analyze(spec(name), params, input_shape)
    having = {t for node in graph.nodes if node.spec.init for t in node.spec.init.of(node.attrs)}
    section = yaml.safe_load((SPECS / f"{base}.yaml").read_text())["init"]
    return [(key, tensor) for key, raw in section.items()
            for tensor in (raw if isinstance(raw, dict) else ["weight"]) if tensor in having]


@pytest.mark.slow
@pytest.mark.parametrize("name, key, tensor", [(name, *rule) for name in CASES for rule in _rules(name)])
def test_each_rule_is_needed(name, key, tensor):
    """Without any one of its rules, a spec builds a tensor that the comparison tells from torchvision's."""
    base, fixed, params, input_shape, _ = CASES[name]
    doc = yaml.safe_load((SPECS / f"{base}.yaml").read_text())
    rule = doc["init"][key]
    if isinstance(rule, dict) and len(rule) > 1:
        del rule[tensor]
    else:
        del doc["init"][key]
    ours = archc.build(doc, input_shape=input_shape, seed=0, **fixed, **params).state_dict()
    assert distribution_mismatches(ours, name) != []
