"""Vision transformers against torchvision: parameters, MACs (attention's QK^T and AV included), published
numbers, weights, outputs, the fused attention path, other image sizes, and the static errors."""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm
from test_zoo_equivalence import assert_same_function, randomize
from test_zoo_static import numel, spec, torch_macs

import archc
from archc.cli import run

VITS = ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"]


def meta_size(name: str) -> int:
    """The image size of torchvision's default weights (vit_h_14's are at 518)."""
    return tvm.get_model_weights(name).DEFAULT.meta["min_size"][0]


@pytest.mark.parametrize("name", VITS)
def test_vit_params_macs_and_output_equal_torchvision_on_meta(name):
    graph = archc.analyze(spec(name))
    with torch.device("meta"):
        model = getattr(tvm, name)(weights=None)
    x = torch.zeros(1, 3, 224, 224, device="meta")
    assert graph.total_params == numel(model)
    assert graph.total_macs == torch_macs(model.eval(), x) == torch_macs(model.train(), x)
    assert graph.shape_of(graph.outputs[0].node) == tuple(model.eval()(x).shape[1:])


@pytest.mark.parametrize("name", VITS)
def test_vit_params_and_gflops_are_torchvisions_published_numbers(name):
    size = meta_size(name)
    meta = tvm.get_model_weights(name).DEFAULT.meta
    graph = archc.analyze(spec(name), {"image_size": size}, (3, size, size))
    assert graph.total_params == meta["num_params"]
    assert round(graph.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


def test_vit_b_16_at_384_matches_torchvision_with_that_image_size():
    graph = archc.analyze(spec("vit_b_16"), {"image_size": 384}, (3, 384, 384))
    with torch.device("meta"):
        model = tvm.vit_b_16(weights=None, image_size=384)
    assert graph.total_params == numel(model)
    assert graph.total_macs == torch_macs(model.eval(), torch.zeros(1, 3, 384, 384, device="meta"))


def randomized_vit(name: str, image_size: int):
    torch.manual_seed(0)
    model = randomize(getattr(tvm, name)(weights=None, image_size=image_size))
    with torch.no_grad():                  # the zero class token would hide a misplaced one
        model.class_token.normal_()
        model.encoder.pos_embedding.normal_()
    return model


@pytest.mark.parametrize("name, size", [("vit_b_16", 32), ("vit_b_32", 64)])
def test_vit_loads_torchvisions_weights_and_computes_the_same(name, size):
    reference = randomized_vit(name, size)
    model = archc.build(spec(name), input_shape=(3, size, size), seed=1, image_size=size)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


def test_vit_attention_takes_torchs_fused_path_in_eval(monkeypatch):
    calls = []
    fused = torch._native_multi_head_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(torch, "_native_multi_head_attention", counting)
    model = archc.build(spec("vit_b_16"), input_shape=(3, 32, 32), seed=1, image_size=32, num_layers=2).eval()
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert len(calls) == 2


def shapes_error(args, capsys) -> str:
    assert run(["shapes", *args]) == 1
    return capsys.readouterr().err


def test_an_input_the_patch_size_does_not_divide_is_a_located_error(capsys):
    err = shapes_error([spec("vit_b_16"), "--input", "3x230x230", "--set", "image_size=230"], capsys)
    assert "vit.yaml:" in err and "patch size 16 does not divide the image height 230" in err and "conv_proj" in err


def test_another_input_without_its_position_embedding_is_a_located_error(capsys):
    err = shapes_error([spec("vit_b_16"), "--input", "3x384x384"], capsys)
    assert "has length 197 but its input has 577 tokens" in err
    assert "vit.yaml:" in err and "encoder.pos_embedding" in err


def test_heads_that_do_not_divide_the_dim_is_a_located_error(capsys):
    err = shapes_error([spec("vit_b_16"), "--set", "num_heads=7"], capsys)
    assert "heads=7 do not divide the token dim D=768" in err and "vit.yaml:" in err


def test_python_source_of_a_small_vit_computes_the_same():
    from archc.emit.python_source import python_source

    small = {"image_size": 32, "num_layers": 2, "num_classes": 10}
    model = archc.build(spec("vit_b_16"), input_shape=(3, 32, 32), seed=0, **small).eval()
    namespace = {}
    exec(python_source(spec("vit_b_16"), input_shape=(3, 32, 32), **small), namespace)  # noqa: S102
    emitted = namespace["VitB16"]().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(emitted(x), model(x), atol=1e-5)


# -- Swin v1 and v2 -------------------------------------------------------------------------------

SWINS = ["swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"]


@pytest.mark.parametrize("name", SWINS)
def test_swin_params_macs_and_output_equal_torchvision_on_meta(name):
    graph = archc.analyze(spec(name))
    with torch.device("meta"):
        model = getattr(tvm, name)(weights=None).eval()
    x = torch.zeros(1, *graph.input_shape, device="meta")
    assert graph.total_params == numel(model)
    assert graph.total_macs == torch_macs(model, x)
    assert graph.shape_of(graph.outputs[0].node) == tuple(model(x).shape[1:])


@pytest.mark.parametrize("name", SWINS)
def test_swin_params_and_gflops_are_torchvisions_published_numbers(name):
    meta = tvm.get_model_weights(name).DEFAULT.meta
    graph = archc.analyze(spec(name))
    assert graph.input_shape[1:] == meta["min_size"] or graph.input_shape[1] == 224
    assert graph.total_params == meta["num_params"]
    assert round(graph.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


def swin_reference(name: str, window: int):
    """torchvision's builder for `name` with another window (its builders fix the window)."""
    from torchvision.models import swin_transformer as swin

    v2 = "v2" in name
    torch.manual_seed(0)
    model = swin.SwinTransformer(
        patch_size=[4, 4], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=[window] * 2,
        stochastic_depth_prob=0.2, block=swin.SwinTransformerBlockV2 if v2 else swin.SwinTransformerBlock,
        downsample_layer=swin.PatchMergingV2 if v2 else swin.PatchMerging)
    return randomize(model)


@pytest.mark.parametrize("name", ["swin_t", "swin_v2_t"])
def test_swin_loads_torchvisions_weights_and_computes_the_same(name):
    reference = swin_reference(name, 2)                  # 64x64: maps 16, 8, 4, 2, all tiled by 2x2 windows
    model = archc.build(spec(name), input_shape=(3, 64, 64), seed=1, window=2)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


def test_shifted_window_attention_runs_in_bfloat16_as_torchvisions():
    # the shift mask takes the activations' dtype (a float32 mask made the scores float32, and AV failed)
    reference = swin_reference("swin_t", 2).eval().to(torch.bfloat16)
    model = archc.build(spec("swin_t"), input_shape=(3, 64, 64), seed=1, window=2).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    with torch.no_grad():
        out, want = model.to(torch.bfloat16)(x), reference(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, want, rtol=0.02, atol=0.02 * want.abs().max().item())


@pytest.mark.slow
def test_swin_t_with_padded_windows_is_torchvisions_swin_t_at_96():
    torch.manual_seed(0)
    reference = randomize(tvm.swin_t(weights=None))      # maps 24, 12, 6, 3: padded to 28, 14, 7, 7
    model = archc.build(spec("swin_t"), input_shape=(3, 96, 96), seed=1, pad_windows=True)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


def test_a_window_that_does_not_tile_the_map_is_a_located_error(capsys):
    err = shapes_error([spec("swin_t"), "--input", "3x96x96"], capsys)
    assert "swin.yaml:" in err and "window 7 does not tile the map's height 24" in err and "pad: true" in err


def test_a_window_larger_than_the_map_is_a_located_error(capsys):
    err = shapes_error([spec("swin_t"), "--set", "window=8"], capsys)
    assert "window 8 does not tile the map's height 28" in err
    err = shapes_error([spec("swin_t"), "--input", "3x128x128", "--set", "window=8"], capsys)
    assert "window 8 is larger than the map's height 4" in err


def test_swin_shifts_every_other_block_by_half_a_window_as_torchvision():
    with torch.device("meta"):
        model = archc.build(spec("swin_t"))
        reference = tvm.swin_t(weights=None)
    ours = [list(m.shift) for m in model.modules() if hasattr(m, "shift") and hasattr(m, "window")]
    assert ours == [m.shift_size for m in reference.modules() if hasattr(m, "shift_size")]


# -- MaxViT ---------------------------------------------------------------------------------------

def test_maxvit_t_params_macs_and_output_equal_torchvision_on_meta():
    graph = archc.analyze(spec("maxvit_t"))
    with torch.device("meta"):
        model = tvm.maxvit_t(weights=None).eval()
    x = torch.zeros(1, 3, 224, 224, device="meta")
    assert graph.total_params == numel(model)
    assert graph.total_macs == torch_macs(model, x)
    assert graph.shape_of(graph.outputs[0].node) == tuple(model(x).shape[1:])


def test_maxvit_t_params_and_gflops_are_torchvisions_published_numbers():
    meta = tvm.get_model_weights("maxvit_t").DEFAULT.meta
    graph = archc.analyze(spec("maxvit_t"))
    assert graph.total_params == meta["num_params"]
    assert round(graph.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


def maxvit_reference(size: int, partition: int):
    from torchvision.models.maxvit import MaxVit

    torch.manual_seed(0)
    return randomize(MaxVit(input_size=(size, size), stem_channels=64, partition_size=partition,
                            block_channels=[64, 128, 256, 512], block_layers=[2, 2, 5, 2], head_dim=32,
                            stochastic_depth_prob=0.2))


def test_maxvit_t_loads_torchvisions_weights_and_computes_the_same():
    reference = maxvit_reference(64, 2)                  # maps 32, 16, 8, 4, 2: tiled by 2x2 partitions
    model = archc.build(spec("maxvit_t"), input_shape=(3, 64, 64), seed=1, partition_size=2)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)
    ours = {k: m.p for k, m in model.named_modules() if type(m).__name__ == "StochasticDepth"}
    theirs = {k: m.p for k, m in reference.named_modules() if type(m).__name__ == "StochasticDepth"}
    assert sorted(ours.values()) == pytest.approx(sorted(theirs.values()))


def test_a_partition_that_does_not_tile_a_block_input_is_a_located_error(capsys):
    err = shapes_error([spec("maxvit_t"), "--input", "3x96x96"], capsys)
    assert "maxvit_t.yaml:" in err and "partition size 7 does not tile the map's height 24" in err


def test_vit_init_is_torchvisions_for_the_mlps_tokens_and_head():
    model = archc.build(spec("vit_b_16"), input_shape=(3, 32, 32), seed=0, image_size=32, num_layers=1)
    layer = model.encoder.layers.encoder_layer_0
    fan = 768 + 3072
    assert layer.mlp[0].weight.abs().max().item() <= (6 / fan) ** 0.5              # xavier_uniform's bound
    assert layer.mlp[0].weight.std().item() == pytest.approx((2 / fan) ** 0.5, rel=0.05)
    assert layer.mlp[3].bias.std().item() == pytest.approx(1e-6, rel=0.2)
    assert torch.all(model.heads.head.weight == 0) and torch.all(model.heads.head.bias == 0)
    assert torch.all(model.class_token == 0)
    assert model.encoder.pos_embedding.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(layer.self_attention.in_proj_bias == 0)                     # MultiheadAttention's own
