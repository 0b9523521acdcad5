"""Shape rules of the layout, layer-norm, layer-scale and stochastic-depth ops, each against torch itself."""

from __future__ import annotations

import pickle

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_shapes import check, resolve
from torch.utils.flop_counter import FlopCounterMode

from archc.emit.lowering import op_module
from archc.ops import REGISTRY, ShapeError
from archc.ops.layout import CHANNELS_LAST, TOKENS, Layout, describe, names_of

CASES = settings(max_examples=40, deadline=None, derandomize=True)
dims = st.integers(1, 6)


@CASES
@given(st.lists(dims, min_size=1, max_size=4), st.data())
def test_permute_matches_torch(shape, data):
    order = data.draw(st.permutations(range(1, len(shape) + 1)))
    assert check("permute", {"dims": [0, *order]}, [tuple(shape)])


def test_permute_refuses_what_is_not_a_permutation_keeping_the_batch():
    for bad in ([0, 1, 1, 2], [0, 1], [1, 0, 2, 3]):
        with pytest.raises(ShapeError):
            REGISTRY["permute"].infer(resolve("permute", {"dims": bad}), [(3, 4, 5)])


def test_permute_names_channels_last_and_tokens():
    permute = lambda shape, order: REGISTRY["permute"].infer({"dims": order}, [shape]).shape
    hwc = permute((8, 4, 5), (0, 2, 3, 1))
    assert hwc == (4, 5, 8) and names_of(hwc) == CHANNELS_LAST
    assert type(permute(hwc, (0, 3, 1, 2))) is tuple                    # back to plain [C, H, W]
    tokens = permute((768, 196), (0, 2, 1))
    assert names_of(tokens) == TOKENS and "tokens [N, L, D]" in describe(tokens)
    assert pickle.loads(pickle.dumps(tokens)).names == TOKENS


@CASES
@given(st.lists(dims, min_size=1, max_size=2), st.sampled_from([1, 3, 7]), st.booleans())
def test_linear_on_the_last_dim_matches_torch(leading, out, bias):
    shape = Layout((*leading, 5), TOKENS if len(leading) == 1 else CHANNELS_LAST)
    assert check("linear", {"out": out, "bias": bias}, [shape])
    attrs = resolve("linear", {"out": out, "bias": bias})
    module = op_module(REGISTRY["linear"], attrs, [shape])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(2, *shape))
    assert REGISTRY["linear"].infer(attrs, [shape]).macs == counter.get_total_flops() // 4
    assert names_of(REGISTRY["linear"].infer(attrs, [shape]).shape) == names_of(shape)


def test_linear_still_refuses_a_channels_first_image():
    with pytest.raises(ShapeError, match="2-d input"):
        REGISTRY["linear"].infer(resolve("linear", {"out": 3}), [(3, 4, 4)])


@CASES
@given(st.one_of(st.tuples(dims, dims, dims), st.tuples(dims)), st.booleans())
def test_layernorm_matches_torch_on_channels_and_features(shape, affine):
    assert check("layernorm", {"affine": affine}, [shape])


def test_layernorm_on_channels_is_torchvisions_layernorm2d():
    from torchvision.models.convnext import LayerNorm2d

    ours = op_module(REGISTRY["layernorm"], resolve("layernorm", {"eps": 1e-6}), [(6, 3, 4)])
    theirs = LayerNorm2d(6, eps=1e-6)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 6, 3, 4)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)


def test_layernorm_on_tokens_normalises_the_last_dim():
    shape = Layout((5, 6), TOKENS)
    assert check("layernorm", {}, [shape])
    with pytest.raises(ShapeError, match=r"\[N, C, L\]"):
        REGISTRY["layernorm"].infer(resolve("layernorm", {}), [(6, 5)])       # plain [C, L]: ambiguous


@pytest.mark.parametrize("shape", [(6, 3, 4), Layout((3, 4, 6), CHANNELS_LAST), (6,)])
def test_layer_scale_broadcasts_per_channel_like_torch(shape):
    op = REGISTRY["layer_scale"]
    attrs = resolve("layer_scale", {"init": 0.5})
    tensor_shape = op.lower.shape(attrs, [shape])
    assert op.infer(attrs, [shape]).params == torch.empty(tensor_shape).numel() == 6
    x = torch.randn(2, *shape)
    out = eval(op.lower.code(attrs, ["x"], "p"), {"torch": torch}, {"x": x, "p": torch.full(tensor_shape, 0.5)})
    assert out.shape == x.shape and torch.equal(out, x * 0.5)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_draws_what_torchvision_draws(mode):
    module = op_module(REGISTRY["stochastic_depth"], resolve("stochastic_depth", {"p": 0.4, "mode": mode}), [(3, 4)])
    reference = torchvision.ops.StochasticDepth(0.4, mode)
    x = torch.randn(16, 3, 4)
    assert torch.equal(module.eval()(x), x)
    for seed in range(3):
        torch.manual_seed(seed)
        ours = module.train()(x)
        torch.manual_seed(seed)
        assert torch.equal(ours, reference.train()(x))
