"""RegNet beyond the CNN zoo's proofs. tests/cnn_zoo.py lists the 15 torchvision builders, so
tests/test_zoo_cnn.py proves each of them: params, MACs and output shape against torchvision on the meta
device, the published `num_params` and `_ops`, a strict state_dict load with equal eval outputs for every
builder under ~100M params, ONNX Runtime parity and the depth-2 graph of regnet_y_400mf. Here:

- every builder: the state_dict (keys, order, shapes) is torchvision's, on the meta device; this is the stage
  table the spec computes from w_0, w_a, w_m, depth and the group width (widths, blocks per stage, groups, the
  squeeze channels of RegNetY);
- every weights entry of every builder: `num_params` and `_ops` at the entry's own crop size (SWAG's 384x384);
- the family spec with designs no builder has (other bottleneck multipliers, SE ratios, group widths wider than
  a stage's bottleneck) is torchvision's RegNet class built from `BlockParams.from_init_params`: drawn designs
  statically, two numerically;
- the default init is torchvision's.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm
from cnn_zoo import BUILDERS
from hypothesis import given, settings
from hypothesis import strategies as st
from test_zoo_cnn import regnet_tables_on_the_cpu, spec, torchvision_model
from test_zoo_equivalence import assert_same_function, randomize
from torchvision.models.regnet import BlockParams, RegNet

import archc

torch.set_num_threads(1)
REGNETS = sorted(n for n in BUILDERS if n.startswith("regnet_"))


def state_shapes(model: torch.nn.Module) -> list[tuple[str, tuple]]:
    return [(key, tuple(value.shape)) for key, value in model.state_dict().items()]


def test_every_torchvision_builder_has_a_spec():
    builders = {n for n in tvm.list_models(module=tvm) if n.startswith("regnet_")}
    assert len(REGNETS) == 15 and set(REGNETS) == builders


@pytest.mark.parametrize("name", REGNETS)
def test_state_dict_is_torchvisions_on_the_meta_device(name):
    with torch.device("meta"):
        ours = archc.build(spec(name))
    assert state_shapes(ours) == state_shapes(torchvision_model(name, "meta"))


WEIGHTS = [(name, weights.name) for name in REGNETS for weights in tvm.get_model_weights(name)]


@pytest.mark.parametrize("name, entry", WEIGHTS, ids=[f"{n}-{e}" for n, e in WEIGHTS])
def test_every_weights_entry_states_archcs_params_and_gflops(name, entry):
    """torchvision's metadata (no download): `_ops` is measured at the entry's crop size."""
    weights = tvm.get_model_weights(name)[entry]
    size = weights.transforms.keywords["crop_size"]
    graph = archc.analyze(spec(name), input_shape=(3, size, size))
    assert graph.total_params == weights.meta["num_params"]
    assert round(graph.total_macs / 1e9, 3) == pytest.approx(weights.meta["_ops"], abs=1e-9)


def torchvision_regnet(design: dict, device: str = "cpu", **kwargs) -> RegNet:
    table = {k: design[k] for k in ("depth", "w_0", "w_a", "w_m", "group_width", "bottleneck_multiplier")}
    with torch.device(device), regnet_tables_on_the_cpu():
        return RegNet(BlockParams.from_init_params(**table, se_ratio=design["se_ratio"] or None), **kwargs)


designs = st.fixed_dictionaries({
    "depth": st.integers(1, 24),
    "w_0": st.integers(1, 12).map(lambda n: 8 * n),
    "w_a": st.floats(0, 60).map(lambda w: round(w, 2)),
    "w_m": st.floats(1.1, 3.0).map(lambda w: round(w, 2)),
    "group_width": st.sampled_from([1, 4, 8, 16, 24, 48, 120]),
    "bottleneck_multiplier": st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    "se_ratio": st.sampled_from([0.0, 0.25, 0.5]),
})


@settings(max_examples=25, deadline=None, derandomize=True)
@given(designs)
def test_drawn_designs_have_torchvisions_state_dict(design):
    with torch.device("meta"):
        ours = archc.build(spec("regnet"), **design, stem_width=16, num_classes=10)
    assert state_shapes(ours) == state_shapes(torchvision_regnet(design, "meta", stem_width=16, num_classes=10))


@pytest.mark.parametrize("design", [
    # a bottleneck half the block's width, SE at half the input, the first stage's bottleneck (4) narrower than g
    {"depth": 7, "w_0": 8, "w_a": 10.5, "w_m": 2.2, "group_width": 12, "bottleneck_multiplier": 0.5, "se_ratio": 0.5},
    {"depth": 6, "w_0": 16, "w_a": 12.0, "w_m": 1.9, "group_width": 8, "bottleneck_multiplier": 2.0, "se_ratio": 0.0},
], ids=["b0.5-se0.5", "b2-no-se"])
def test_other_designs_compute_what_torchvisions_regnet_computes(design):
    torch.manual_seed(0)
    reference = randomize(torchvision_regnet(design, stem_width=16, num_classes=10))
    model = archc.build(spec("regnet"), input_shape=(3, 32, 32), seed=1, **design, stem_width=16, num_classes=10)
    model.load_state_dict(reference.state_dict(), strict=True)
    assert len(model.trunk_output) >= 3                       # several stages: the runs matter
    assert_same_function(model, reference, torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)))


def test_default_init_is_torchvisions():
    """Convs normal with std sqrt(2 / fan_out), batch norm 1 and 0, the classifier normal(0.01) with a zero bias;
    the SE convs' biases keep torch's default, as in torchvision."""
    torch.manual_seed(0)
    ours, theirs = archc.build(spec("regnet_y_400mf"), seed=0), torchvision_model("regnet_y_400mf")
    layers = dict(theirs.named_modules())
    for path, mine in ours.named_modules():
        ref = layers[path] if isinstance(mine, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear)) else None
        if isinstance(mine, torch.nn.BatchNorm2d):
            assert torch.all(mine.weight == 1) and torch.all(mine.bias == 0), path
        elif ref is not None and mine.weight.numel() >= 4096:
            assert mine.weight.std().item() == pytest.approx(ref.weight.std().item(), rel=0.1), path
        if isinstance(mine, torch.nn.Conv2d) and mine.bias is not None:     # the SE's fc1 and fc2
            bound = 1 / (mine.weight[0].numel() ** 0.5)
            assert 0 < mine.bias.abs().max().item() <= bound and ref.bias.abs().max().item() <= bound, path
    assert ours.fc.weight.std().item() == pytest.approx(0.01, rel=0.05) and torch.all(ours.fc.bias == 0)
    stem = ours.stem[0].weight
    assert stem.std().item() == pytest.approx((2 / (9 * 32)) ** 0.5, rel=0.1)
