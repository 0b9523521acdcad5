"""Shape rules of the layout, layer-norm, layer-scale and stochastic-depth ops, each against torch itself, and
Swin's patch merging written with slices and concat against torchvision's."""

from __future__ import annotations

import math
import pickle
import re

import pytest
import torch
import torchvision
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_shapes import check, resolve
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.emit.lowering import apply_function, op_module
from archc.ops import REGISTRY, ShapeError
from archc.ops.layout import CHANNELS_LAST, TOKENS, Layout, describe, names_of
from conftest import ROOT

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


# -- transpose, slice, reshape, flatten, concat and add: shape rule and lowering against torch's own op ------

def against_torch(name: str, raw: dict, shapes: list[tuple], reference) -> bool:
    """archc's shape rule and lowering against `reference(tensors)`, torch's own op on batched inputs.

    Where torch refuses (or gives an empty dim, which archc refuses too), archc raises ShapeError;
    elsewhere it infers torch's shape and its lowering computes torch's values. Returns whether torch accepted.
    """
    attrs = resolve(name, raw)
    tensors = [torch.randn(2, *shape) for shape in shapes]
    try:
        expected = reference(tensors)
    except (RuntimeError, IndexError, ValueError):
        expected = None
    if expected is None or 0 in expected.shape:
        with pytest.raises(ShapeError):
            REGISTRY[name].infer(attrs, shapes)
        return False
    assert REGISTRY[name].infer(attrs, shapes).shape == tuple(expected.shape[1:])
    assert torch.equal(apply_function(REGISTRY[name], attrs, tensors), expected)
    return True


ranks = st.lists(dims, min_size=1, max_size=4).map(tuple)


def torch_dims(rank: int):
    """Dims torch takes for a tensor with the batch and `rank` more, and a few it refuses; never the batch."""
    return st.integers(-rank - 2, rank + 1).filter(lambda d: d % (rank + 1) != 0 or not -rank - 1 <= d <= rank)


@CASES
@given(ranks, st.data())
def test_transpose_matches_torch(shape, data):
    dim0, dim1 = data.draw(torch_dims(len(shape))), data.draw(torch_dims(len(shape)))
    against_torch("transpose", {"dim0": dim0, "dim1": dim1}, [shape], lambda t: t[0].transpose(dim0, dim1))


def test_transpose_names_tokens_and_keeps_the_batch():
    transpose = lambda shape, a, b: REGISTRY["transpose"].infer({"dim0": a, "dim1": b}, [shape]).shape
    assert names_of(transpose((768, 196), 1, 2)) == TOKENS
    assert type(transpose(Layout((196, 768), TOKENS), -1, -2)) is tuple
    for batch in (0, -3):
        with pytest.raises(ShapeError, match="batch dimension"):
            transpose((4, 5), batch, 1)


@CASES
@given(ranks, st.data())
def test_slice_matches_torch(shape, data):
    dim = data.draw(torch_dims(len(shape)))
    start, stop = data.draw(st.integers(-8, 8)), data.draw(st.one_of(st.none(), st.integers(-8, 8)))
    step = data.draw(st.integers(1, 3))
    region = (slice(None),) * (dim % (len(shape) + 1)) + (slice(start, stop, step),)
    raw = {"dim": dim, "start": start, "step": step, **({} if stop is None else {"stop": stop})}
    against_torch("slice", raw, [shape], lambda t: t[0][region] if -len(shape) - 1 <= dim <= len(shape) else None)


def test_slice_keeps_the_layout_and_refuses_an_empty_range():
    hwc = Layout((6, 4, 8), CHANNELS_LAST)
    out = REGISTRY["slice"].infer(resolve("slice", {"dim": 1, "start": 1, "step": 2}), [hwc]).shape
    assert out == (3, 4, 8) and names_of(out) == CHANNELS_LAST
    with pytest.raises(ShapeError, match=r"slice \[5:2\] of dim 1 \(size 6\).*selects nothing"):
        REGISTRY["slice"].infer(resolve("slice", {"dim": 1, "start": 5, "stop": 2}), [hwc])


def reshape_targets(shape: tuple):
    """Targets torch takes for `shape` (its values regrouped, maybe with one -1) and random ones, mostly refused."""
    total = math.prod(shape)
    divisors = st.sampled_from([d for d in range(1, total + 1) if total % d == 0])
    return st.one_of(divisors.map(lambda d: [d, total // d]), st.permutations(list(shape)),
                     divisors.flatmap(lambda d: st.sampled_from([[d, -1], [-1, d], [1, d, -1]])),
                     st.lists(st.integers(-2, 6), max_size=4))


@CASES
@given(ranks, st.data())
def test_reshape_matches_torch(shape, data):
    target = data.draw(reshape_targets(shape))
    # an empty target would leave one value per sample as a 0-d tensor: archc refuses it
    against_torch("reshape", {"shape": target}, [shape], lambda t: t[0].reshape(2, *target) if target else None)


def test_reshape_numel_mismatch_says_how_many_values():
    with pytest.raises(ShapeError, match=r"reshape to \[5, 5\] needs 25 values per sample, but the input \[N, 3, 8\] "
                                         r"has 24"):
        REGISTRY["reshape"].infer({"shape": (5, 5)}, [(3, 8)])
    with pytest.raises(ShapeError, match="a multiple of 5"):
        REGISTRY["reshape"].infer({"shape": (5, -1)}, [(3, 8)])


@CASES
@given(st.integers(1, 4), st.integers(-5, 4), ranks)
def test_flatten_with_an_end_matches_torch(start, end, shape):
    assert check("flatten", {"start": start, "end": end}, [shape]) == _flattens(start, end, len(shape) + 1)
    if _flattens(start, end, len(shape) + 1):
        out = torch.flatten(torch.randn(2, *shape), start, end).shape[1:]
        assert REGISTRY["flatten"].infer(resolve("flatten", {"start": start, "end": end}), [shape]).shape == out


def _flattens(start: int, end: int, rank: int) -> bool:
    return start < rank and -rank <= end < rank and start <= end % rank


@CASES
@given(st.integers(1, 3), st.data())
def test_concat_on_any_dim_matches_torch(rank, data):
    dim = data.draw(torch_dims(rank))
    shapes = data.draw(st.lists(st.tuples(*[st.integers(1, 2)] * rank), min_size=2, max_size=3))
    raw = {"dim": dim}
    against_torch("concat", raw, shapes, lambda t: torch.cat(t, dim))


def test_concat_keeps_a_common_layout_and_defaults_to_channels():
    hwc = Layout((2, 2, 3), CHANNELS_LAST)
    out = REGISTRY["concat"].infer({"dim": -1}, [hwc, hwc]).shape
    assert out == (2, 2, 6) and names_of(out) == CHANNELS_LAST
    assert REGISTRY["concat"].infer(resolve("concat", {}), [(2, 4, 4), (3, 4, 4)]).shape == (5, 4, 4)
    with pytest.raises(ShapeError, match=r"apart from dim -1 \(C\).*") as info:
        REGISTRY["concat"].infer({"dim": -1}, [hwc, Layout((2, 3, 3), CHANNELS_LAST)])
    assert "dim 2 (W) is 2 and 3" in info.value.hint


@CASES
@given(st.integers(1, 3), st.data())
def test_add_broadcasts_like_torch(rank, data):
    shapes = data.draw(st.lists(st.tuples(*[st.sampled_from([1, 2, 3])] * rank), min_size=2, max_size=3))
    against_torch("add", {}, shapes, lambda t: sum(t[1:], t[0]))


def test_add_broadcasts_tokens_and_gates_and_refuses_with_a_hint():
    tokens = Layout((5, 6), TOKENS)
    assert names_of(REGISTRY["add"].infer({}, [Layout((1, 6), TOKENS), tokens]).shape) == TOKENS
    assert REGISTRY["add"].infer({}, [(4, 8, 8), (4, 1, 1)]).shape == (4, 8, 8)
    with pytest.raises(ShapeError, match=r"cannot broadcast \[N, 8, 4, 4\], \[N, 3, 4, 4\]: dim 1 \(C\)") as info:
        REGISTRY["add"].infer({}, [(8, 4, 4), (3, 4, 4)])
    assert "projection" in info.value.hint
    with pytest.raises(ShapeError, match="same rank"):           # [N, D] + [N, L, D] would line the batch up with L
        REGISTRY["add"].infer({}, [(6,), tokens])


def patch_merging_layers() -> list:
    """The patch merging of docs/spec-language.md (strided slices, concat, layernorm, linear), as written there."""
    text = (ROOT / "docs" / "spec-language.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "_x0:" in b]
    return yaml.safe_load(block)


@pytest.mark.parametrize("shape", [(4, 4, 6), (6, 8, 2), (2, 2, 2)])
def test_slices_and_concat_compute_torchvisions_patch_merging(shape):
    from torchvision.models.swin_transformer import PatchMerging

    spec = {"name": "patch_merging", "input": list(shape),
            "layers": [{"permute": {"dims": [0, 2, 3, 1]}}, *patch_merging_layers()]}
    theirs = PatchMerging(shape[0])
    with torch.no_grad():
        theirs.norm.weight.uniform_(0.5, 1.5)
        theirs.norm.bias.uniform_(-0.5, 0.5)
    ours = archc.build(spec, seed=0)
    ours.load_state_dict(theirs.state_dict(), strict=True)         # the same keys: norm.*, reduction.weight
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x.permute(0, 2, 3, 1)))
    (output,) = archc.analyze(spec).outputs
    out = archc.analyze(spec).shape_of(output.node)
    assert out == (shape[1] // 2, shape[2] // 2, 2 * shape[0]) and names_of(out) == CHANNELS_LAST
