"""Every op's shape rule, parameter count and MACs, checked against the real torch layer.

For each generated case: if torch accepts the input, archc's `infer` gives the
same output shape and parameter count as the module built by the op's own
`module()`; if torch refuses it, archc raises `ShapeError`.
"""

from __future__ import annotations

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import note as hypothesis_note
from hypothesis.control import currently_in_test_context
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from archc.emit.lowering import apply_function, op_module
from archc.ops import REGISTRY, ShapeError, coerce

torch.set_num_threads(1)
BATCH = 2
CASES = settings(max_examples=60, deadline=None, derandomize=True)

sizes = st.integers(1, 12)
channels = st.integers(1, 8)
pairs = lambda low, high: st.one_of(st.integers(low, high), st.lists(st.integers(low, high), min_size=2, max_size=2))  # noqa: E731
image = st.tuples(channels, sizes, sizes)


def note(text: str) -> None:
    if currently_in_test_context():
        hypothesis_note(text)


def resolve(name: str, raw: dict) -> dict:
    """Attributes as the expander passes them: defaults filled in, values coerced."""
    attrs = {}
    for key, attr in REGISTRY[name].attrs.items():
        value = raw.get(key, attr.default)
        attrs[key] = value if value is None else coerce(attr.kind, value, attr.choices)
    return attrs


def run_torch(name: str, attrs: dict, shapes: list[tuple]):
    """(output shape without batch, parameter count) from torch, or None if torch refuses."""
    op = REGISTRY[name]
    inputs = [torch.randn(BATCH, *shape) for shape in shapes]
    try:
        if op.functional:
            out = apply_function(op, attrs, inputs)
            return tuple(out.shape[1:]), 0
        module = op_module(op, attrs, shapes).eval()
        with torch.no_grad():
            out = module(*inputs)
    except (RuntimeError, ValueError, IndexError) as exc:
        note(f"torch refuses: {exc}")
        return None
    return tuple(out.shape[1:]), sum(p.numel() for p in module.parameters())


def check(name: str, raw: dict, shapes: list[tuple]) -> bool:
    """Compare archc with torch on one case; returns whether torch accepted it."""
    attrs = resolve(name, raw)
    note(f"{name} {attrs} on {shapes}")
    expected = run_torch(name, attrs, shapes)
    if expected is None:
        with pytest.raises(ShapeError):
            REGISTRY[name].infer(attrs, shapes)
        return False
    inferred = REGISTRY[name].infer(attrs, shapes)
    assert (inferred.shape, inferred.params) == expected
    return True


def torch_macs(name: str, attrs: dict, shape: tuple) -> int:
    module = op_module(REGISTRY[name], attrs, [shape])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(BATCH, *shape))
    return counter.get_total_flops() // 2 // BATCH


# -- conv ---------------------------------------------------------------------------------------

conv_attrs = st.fixed_dictionaries({
    "out": st.sampled_from([1, 2, 3, 4, 6, 8]),
    "kernel": pairs(1, 5),
    "stride": pairs(1, 3),
    "padding": st.one_of(pairs(0, 3), st.sampled_from(["same", "valid"])),
    "dilation": pairs(1, 3),
    "groups": st.sampled_from([1, 1, 2, 3, 4]),
    "bias": st.booleans(),
})


@CASES
@given(conv_attrs, image)
def test_conv_matches_torch(raw, shape):
    if check("conv", raw, [shape]):
        assert REGISTRY["conv"].infer(resolve("conv", raw), [shape]).macs == torch_macs("conv", resolve("conv", raw), shape)


@pytest.mark.parametrize("raw, shape, message", [
    ({"out": 4, "kernel": 5}, (3, 4, 8), "larger than the padded input 4 along height"),
    ({"out": 4, "kernel": 3, "dilation": 3}, (3, 6, 6), "kernel 7 (with dilation)"),
    ({"out": 4, "kernel": 3, "stride": 2, "padding": "same"}, (3, 8, 8), "padding 'same' needs stride 1"),
    ({"out": 4, "kernel": 3, "groups": 2}, (3, 8, 8), "groups=2 must divide both input channels (3)"),
    ({"out": 3, "kernel": 3, "groups": 2}, (4, 8, 8), "and output channels (3)"),
])
def test_conv_rejections_match_torch(raw, shape, message):
    assert run_torch("conv", resolve("conv", raw), [shape]) is None
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        REGISTRY["conv"].infer(resolve("conv", raw), [shape])


def test_conv_needs_an_image():
    with pytest.raises(ShapeError, match=r"expects a 4-d input \[N, C, H, W\], got \[N, 12\]") as info:
        REGISTRY["conv"].infer(resolve("conv", {"out": 2, "kernel": 1}), [(12,)])
    assert "flatten" in info.value.hint


# -- pooling ------------------------------------------------------------------------------------

window = {"kernel": pairs(1, 5), "stride": st.one_of(st.none(), pairs(1, 3)), "padding": pairs(0, 2),
          "ceil_mode": st.booleans()}


@CASES
@given(st.fixed_dictionaries({**window, "dilation": pairs(1, 3)}), image)
def test_maxpool_matches_torch(raw, shape):
    check("maxpool", raw, [shape])


@CASES
@given(st.fixed_dictionaries({**window, "count_include_pad": st.booleans()}), image)
def test_avgpool_matches_torch(raw, shape):
    check("avgpool", raw, [shape])


@pytest.mark.parametrize("name", ["maxpool", "avgpool"])
@pytest.mark.parametrize("raw, shape, message", [
    ({"kernel": 3, "padding": 2}, (2, 8, 8), "padding 2 is more than half the kernel 3"),
    ({"kernel": 5}, (2, 4, 8), "larger than the padded input 4 along height"),
])
def test_pool_rejections_match_torch(name, raw, shape, message):
    assert run_torch(name, resolve(name, raw), [shape]) is None
    with pytest.raises(ShapeError, match=message):
        REGISTRY[name].infer(resolve(name, raw), [shape])


def test_ceil_mode_drops_a_window_that_starts_in_the_padding():
    # torch: with ceil_mode the last window must start inside the input or the left padding
    raw, shape = {"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 5, 5)
    assert check("maxpool", raw, [shape])
    assert REGISTRY["maxpool"].infer(resolve("maxpool", raw), [shape]).shape == (1, 3, 3)


@CASES
@given(st.sampled_from(["adaptive_avgpool", "adaptive_maxpool"]), pairs(1, 9), image)
def test_adaptive_pools_match_torch(name, out, shape):
    assert check(name, {"out": out}, [shape])


# -- normalisation, linear, tensor ops ----------------------------------------------------------

any_rank = st.one_of(st.tuples(channels), st.tuples(channels, sizes), image)


@CASES
@given(st.fixed_dictionaries({"eps": st.sampled_from([1e-5, 1e-3]), "momentum": st.sampled_from([0.1, 0.01]),
                              "affine": st.booleans()}), any_rank)
def test_batchnorm_matches_torch(raw, shape):
    assert check("batchnorm", raw, [shape])


@CASES
@given(st.fixed_dictionaries({"size": st.integers(1, 6), "alpha": st.just(1e-4), "beta": st.just(0.75),
                              "k": st.sampled_from([1.0, 2.0])}), any_rank)
def test_lrn_matches_torch(raw, shape):
    check("lrn", raw, [shape])


@CASES
@given(st.integers(1, 64), st.integers(1, 64), st.booleans())
def test_linear_matches_torch(features, out, bias):
    raw = {"out": out, "bias": bias}
    assert check("linear", raw, [(features,)])
    assert REGISTRY["linear"].infer(resolve("linear", raw), [(features,)]).macs == torch_macs(
        "linear", resolve("linear", raw), (features,))


def test_linear_refuses_an_unflattened_image():
    with pytest.raises(ShapeError, match=r"expects a 2-d input \[N, F\]") as info:
        REGISTRY["linear"].infer(resolve("linear", {"out": 10}), [(3, 4, 4)])
    assert "flatten" in info.value.hint


@CASES
@given(st.integers(1, 4), any_rank)
def test_flatten_matches_torch(start, shape):
    check("flatten", {"start": start}, [shape])


@CASES
@given(st.sampled_from(["relu", "tanh", "sigmoid", "silu", "gelu", "leaky_relu", "dropout", "identity"]), any_rank)
def test_elementwise_ops_keep_the_shape(name, shape):
    raw = {"approximate": "tanh"} if name == "gelu" else {"slope": 0.2} if name == "leaky_relu" else {}
    assert check(name, raw, [shape])


@CASES
@given(st.integers(-5, 4), any_rank)
def test_softmax_dim_matches_torch(dim, shape):
    check("softmax", {"dim": dim}, [shape])


# -- merges -------------------------------------------------------------------------------------

@CASES
@given(st.lists(st.tuples(channels, st.integers(1, 3), st.integers(1, 3)), min_size=2, max_size=4))
def test_concat_matches_torch(shapes):
    check("concat", {}, shapes)


@CASES
@given(st.lists(st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)), min_size=2, max_size=3))
def test_add_broadcasts_as_torch_does(shapes):
    """add follows torch's broadcasting (a [C, 1, 1] or [1, H, W] branch spreads); other shapes are refused
    with the projection hint of a residual (more cases in test_ops_layout.py)."""
    if not check("add", {}, shapes):
        with pytest.raises(ShapeError, match="add cannot broadcast") as info:
            REGISTRY["add"].infer({}, shapes)
        assert "projection" in info.value.hint


def test_concat_of_mismatched_sizes_says_what_differs():
    with pytest.raises(ShapeError, match=r"got \[N, 2, 4, 4\], \[N, 3, 2, 2\]"):
        REGISTRY["concat"].infer({"dim": 1}, [(2, 4, 4), (3, 2, 2)])
