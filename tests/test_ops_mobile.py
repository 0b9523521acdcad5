"""The ops of the mobile CNN families, each checked against the real torch op (and torchvision's where
it has one): hard activations, the gating multiply, stochastic depth, channel chunk and shuffle."""

from __future__ import annotations

import pytest
import torch
import torchvision
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import archc
from archc.emit.lowering import apply_function, op_module
from archc.ops import REGISTRY, ShapeError
from test_ops_shapes import CASES, any_rank, channels, check, image, resolve, torch_macs

torch.set_num_threads(1)


@CASES
@given(st.sampled_from(["relu6", "hardswish", "hardsigmoid"]), any_rank)
def test_hard_activations_keep_the_shape(name, shape):
    assert check(name, {}, [shape])


@pytest.mark.parametrize("name, cls", [("relu6", nn.ReLU6), ("hardswish", nn.Hardswish),
                                       ("hardsigmoid", nn.Hardsigmoid), ("silu", nn.SiLU)])
def test_hard_activations_are_torchs_and_run_in_place(name, cls):
    module = op_module(REGISTRY[name], {}, [(4, 5, 5)])
    assert type(module) is cls and REGISTRY[name].lower.inplace
    x = torch.randn(2, 4, 5, 5) * 6
    assert torch.equal(module(x), cls()(x))


gates = st.tuples(channels, st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda s: st.tuples(st.just(s), st.sampled_from([s, (s[0], 1, 1), (1, 1, 1), (s[0], s[1], 1)])))


@CASES
@given(gates, st.booleans())
def test_mul_takes_equal_shapes_or_a_per_channel_gate(pair, swap):
    """Torch broadcasts more than archc allows; where archc accepts, the shape is torch's."""
    shapes = list(pair[::-1] if swap else pair)
    a, b = shapes
    accepted = a == b or (len(a) == len(b) == 3 and a[0] == b[0] and (1, 1) in (a[1:], b[1:]))
    if accepted:
        assert check("mul", {}, shapes)
    else:
        with pytest.raises(ShapeError, match="per-channel gate"):
            REGISTRY["mul"].infer({}, shapes)


def test_mul_is_x_times_gate_and_counts_no_macs():
    x, gate = torch.randn(2, 3, 4, 4), torch.rand(2, 3, 1, 1)
    assert torch.equal(apply_function(REGISTRY["mul"], {}, [x, gate]), gate * x)
    assert REGISTRY["mul"].infer({}, [(3, 4, 4), (3, 1, 1)]).macs == 0


def test_add_of_a_gate_and_its_image_broadcasts_and_a_channel_mismatch_asks_for_a_projection():
    x, gate = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 1, 1)
    assert REGISTRY["add"].infer({}, [(16, 1, 1), (16, 8, 8)]).shape == (gate + x).shape[1:]
    with pytest.raises(ShapeError) as info:
        REGISTRY["add"].infer({}, [(16, 8, 8), (32, 4, 4)])
    assert "projection" in info.value.hint


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
def test_stochastic_depth_draws_what_torchvision_draws(p, mode):
    attrs = resolve("stochastic_depth", {"p": p, "mode": mode})
    ours = op_module(REGISTRY["stochastic_depth"], attrs, [(3, 4, 4)])
    theirs = torchvision.ops.StochasticDepth(p, mode)
    x = torch.randn(16, 3, 4, 4)
    for training in (True, False):
        torch.manual_seed(7)
        want = theirs.train(training)(x)
        torch.manual_seed(7)
        assert torch.equal(ours.train(training)(x), want)
    assert torch.equal(ours.eval()(x), x)
    assert REGISTRY["stochastic_depth"].infer(attrs, [(3, 4, 4)]).shape == (3, 4, 4)


# A residual block whose stochastic depth's input is still needed after it (`relu` may run in place only
# when it is not: in eval mode stochastic depth returns that very tensor) and one where it is not.
_THROUGH_DEPTH = """
name: through_depth
input: [4, 6, 6]
layers:
  - conv: {{name: conv, out: 4, kernel: 3, padding: 1}}
  - stochastic_depth: {{name: depth, p: 0.5}}
  - relu: {{name: act}}
  - add: {{name: out, from: [act, {other}]}}
"""


@pytest.mark.parametrize("other", ["conv", "input"])
def test_an_in_place_op_after_stochastic_depth_never_overwrites_a_live_tensor(tmp_path, other):
    spec = tmp_path / "through_depth.yaml"
    spec.write_text(_THROUGH_DEPTH.format(other=other))
    model = archc.build(spec, seed=0).eval()
    x = torch.randn(2, 4, 6, 6)
    conv = model.conv(x)
    with torch.no_grad():
        assert torch.equal(model(x), torch.relu(conv) + (conv if other == "conv" else x))
    assert model.act.inplace == (other == "input")  # the conv's output dies at the stochastic depth
    model.train()
    model(x).sum().backward()  # the in-place relu after x * noise is one autograd allows


def test_stochastic_depth_refuses_a_probability_outside_0_1():
    with pytest.raises(Exception, match="probability"):
        resolve("stochastic_depth", {"p": 1.5})


@CASES
@given(st.integers(1, 5), st.integers(0, 5), st.tuples(st.integers(1, 12), st.integers(1, 4), st.integers(1, 4)))
def test_chunk_matches_torch_chunk(chunks, index, shape):
    attrs = resolve("chunk", {"chunks": chunks, "index": index})
    pieces = torch.randn(2, *shape).chunk(chunks, 1)
    if index < len(pieces):
        assert REGISTRY["chunk"].infer(attrs, [shape]).shape == tuple(pieces[index].shape[1:])
        x = torch.randn(2, *shape)
        assert torch.equal(op_module(REGISTRY["chunk"], attrs, [shape])(x), x.chunk(chunks, 1)[index])
    else:
        with pytest.raises(ShapeError):
            REGISTRY["chunk"].infer(attrs, [shape])


@CASES
@given(st.integers(1, 4), image)
def test_channel_shuffle_matches_torch(groups, shape):
    check("channel_shuffle", {"groups": groups}, [shape])


def test_channel_shuffle_is_torchvisions():
    from torchvision.models.shufflenetv2 import channel_shuffle
    x = torch.randn(2, 8, 3, 3)
    module = op_module(REGISTRY["channel_shuffle"], {"groups": 2}, [(8, 3, 3)])
    assert torch.equal(module(x), channel_shuffle(x, 2))


@pytest.mark.parametrize("name, attrs", [("relu6", {}), ("stochastic_depth", {"p": 0.1}),
                                         ("channel_shuffle", {"groups": 2}), ("chunk", {"chunks": 2, "index": 1})])
def test_the_new_ops_count_no_macs_as_flop_counter(name, attrs):
    attrs = resolve(name, attrs)
    assert REGISTRY[name].infer(attrs, [(4, 3, 3)]).macs == 0 == torch_macs(name, attrs, (4, 3, 3))
