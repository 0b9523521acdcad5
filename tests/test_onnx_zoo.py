"""Every bundled spec exports to ONNX with the default options and matches PyTorch on ONNX Runtime (CPU).

Default options: torch's dynamo exporter, a dynamic batch axis (traced at batch 2), onnx.checker
and archc's own parity check at batches 2 and 1. Each spec is exported once; the test then runs
the file itself at batches 3 and 1 and compares it with the PyTorch module, at a tolerance scaled
to the outputs' magnitude, independently of archc's parity code.

Weights: the seeded weights `archc export` uses by default, with zero-initialised weights (ViT's
head) redrawn, except GoogLeNet's and ShuffleNetV2's: GoogLeNet's
truncated-normal init shrinks the features to nothing, so its logits are its fc bias whatever the
input and parity would be vacuous. Its BatchNorm statistics are measured on a random batch first
(as training leaves them) and given to `archc.export_onnx` as weights. Every test asserts that the
outputs depend on the input by several times the tolerance. (Measured statistics are not used
everywhere: they leave ResNet-101/152's residual streams so ill-conditioned that torch's own float32
logits are 2e-4 of their scale away from float64, beyond the parity tolerance.)

Inputs: small where the architecture allows it (adaptive pooling before the classifier):
torchvision-style AlexNet, VGG, ResNet, DenseNet, GoogLeNet and RegNet at 64x64, the paper AlexNet and NiN
at 67x67 (the smallest their fixed pools accept); the others at their own input size. Every spec
runs, the large ones marked slow (they still run in CI: `slow` is only a marker).

Transformers: ViTs at small images with a matching position embedding (`image_size`), the large ones
with fewer layers; Swins at 64x64 with 2x2 windows (shallower for s/b); MaxViT-T at 64x64 with 2x2
partitions and one layer per stage. Only vit_b_16, swin_t and convnext_tiny run unmarked; the other
members of those families are marked slow.

Exporter traps met in real specs (asserted statically below): LRN (alexnet_paper), ceil_mode
max-pooling where it changes the size (googlenet), adaptive average pooling to a size its input
does not divide (vgg: 2x2 -> 7x7), BatchNorm in eval (resnet, densenet, vgg*_bn, bn_lenet;
googlenet with measured statistics), dropout (alexnet, vgg, nin, googlenet), and GoogLeNet's train-only aux heads (one
output in eval).
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
import torch

import archc
import cnn_zoo
from archc import runtime
from archc.pipeline import analyze
from conftest import SPECS

torch.set_num_threads(1)

TORCHVISION_STYLE = re.compile(r"alexnet|alexnet_finetune|googlenet|vgg\d*(_bn)?|resnet\d*|densenet\d*|convnext\w*|regnet")
SMALL = {"vgg_small": (1, 64, 64), "alexnet_paper": (3, 67, 67), "nin": (1, 67, 67)}
# ViTs: a small image needs a matching position embedding (image_size); the large ones with fewer layers.
VIT_PARAMS = {"vit": {"image_size": 32}, "vit_b_16": {"image_size": 32}, "vit_b_32": {"image_size": 64},
              "vit_l_16": {"image_size": 32, "num_layers": 2}, "vit_l_32": {"image_size": 64, "num_layers": 2},
              "vit_h_14": {"image_size": 28, "num_layers": 1},
              # Swins at 64x64 with 2x2 windows (the maps 16, 8, 4, 2 are tiled), the larger ones shallower
              **{n: {"window": 2} for n in ("swin", "swin_t", "swin_v2_t")},
              **{n: {"window": 2, "depths": [2, 2, 2, 2]} for n in ("swin_s", "swin_b", "swin_v2_s", "swin_v2_b")},
              "maxvit_t": {"partition_size": 2, "block_layers": [1, 1, 1, 1]}}
SLOW = {"densenet121", "densenet161", "densenet169", "densenet201", "densenet_bc_100", "resnet101", "resnet152",
        "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "convnext", "convnext_small", "convnext_base", "convnext_large",
        "vit", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14", "swin", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s",
        "swin_v2_b", "maxvit_t"}
ALL = sorted(p.stem for p in SPECS.glob("*.yaml") if p.stem not in cnn_zoo.BUILDERS)  # those: test_zoo_cnn.py
TOLERANCE = 1e-4  # of the largest |output|
MEASURED_STATISTICS = {"googlenet", "shufflenet_v2"}


def _input_shape(name: str):
    """The small input of the test, or None for the spec's own."""
    if name in VIT_PARAMS:
        size = VIT_PARAMS[name].get("image_size", 64)
        return (3, size, size)
    return (3, 64, 64) if TORCHVISION_STYLE.fullmatch(name) else SMALL.get(name)


def _calibrated(name: str, shape):
    """The seeded module with BatchNorm statistics measured on one random batch, in eval mode."""
    module = archc.build(SPECS / f"{name}.yaml", input_shape=shape, seed=0)
    for bn in (m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over the batches seen
    with torch.no_grad():
        module.train()(torch.randn(8, *shape, generator=torch.Generator().manual_seed(5)))
    return module.eval()


def _without_zero_layers(module):
    """None, or the module's weights with every all-zero weight redrawn (ViT's zero-initialised head
    would make every output 0 whatever the input, and parity vacuous)."""
    zero = [m.weight for m in module.modules() if getattr(m, "weight", None) is not None
            and m.weight.dim() > 1 and not m.weight.any()]
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for weight in zero:
            weight.copy_(torch.randn(weight.shape, generator=generator) / weight.shape[1] ** 0.5)
    return module.state_dict() if zero else None


def _spec_cases():
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in ALL]


@pytest.mark.parametrize("name", _spec_cases())
def test_spec_exports_and_matches_torch_on_onnx_runtime(name, tmp_path):
    spec = SPECS / f"{name}.yaml"
    shape = _input_shape(name)
    params = VIT_PARAMS.get(name, {})
    graph = analyze(spec, params, shape)
    if name in MEASURED_STATISTICS:
        module = _calibrated(name, shape or graph.input_shape)
        report = archc.export_onnx(spec, tmp_path / "m.onnx", input_shape=shape, weights=module.state_dict())
    else:
        module = archc.build(spec, input_shape=shape, seed=0, **params).eval()
        weights = _without_zero_layers(module)
        report = archc.export_onnx(spec, tmp_path / "m.onnx", params=params, input_shape=shape, weights=weights)

    assert report.path.exists() and report.batch == "dynamic" and report.provider == runtime.choose()
    assert [p.batch for p in report.parity] == [2, 1] and all(p.ok for p in report.parity)
    model = onnx.load(str(report.path), load_external_data=False)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [o.name for o in model.graph.output] == [o.name for o in graph.outputs if not o.train_only]

    session = runtime.session(report.path, "cpu")
    for batch in (3, 1):
        x = torch.randn(batch, *graph.input_shape, generator=torch.Generator().manual_seed(10 + batch))
        with torch.no_grad():
            want = module(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == want.shape == (batch, *graph.by_id[graph.outputs[0].node].shape)
        scale = float(np.abs(want).max())
        assert np.abs(got - want).max() <= TOLERANCE * scale, f"batch {batch}: ONNX Runtime differs from torch"
        if batch > 1:  # the outputs depend on the input, so the comparison is not vacuous
            assert np.abs(want[1:] - want[:1]).max() > 5 * TOLERANCE * scale


def test_the_exporter_traps_occur_in_the_specs_at_these_inputs():
    graphs = {name: analyze(SPECS / f"{name}.yaml", VIT_PARAMS.get(name), _input_shape(name)) for name in ALL}

    def nodes(name, op):
        return [n for n in graphs[name].nodes if n.op == op]

    assert nodes("alexnet_paper", "lrn")
    floor_sizes = {n.id: (n.shape[1], (graphs["googlenet"].shape_of(n.inputs[0])[1] - n.attrs["kernel"][0])
                          // n.attrs["stride"][0] + 1) for n in nodes("googlenet", "maxpool") if n.attrs["ceil_mode"]}
    assert any(ceil != floor for ceil, floor in floor_sizes.values())
    not_dividing = {name for name, g in graphs.items() for n in g.nodes if n.op.startswith("adaptive_")
                    and any(size % out for size, out in zip(g.shape_of(n.inputs[0])[1:], n.shape[1:]))}
    assert {"vgg", "vgg11", "vgg19_bn", "alexnet"} <= not_dividing
    assert all(nodes(name, "batchnorm") for name in ("bn_lenet", "googlenet", "resnet50", "densenet121", "vgg11_bn"))
    assert all(nodes(name, "dropout") for name in ("alexnet", "alexnet_paper", "vgg16", "nin", "googlenet"))
    assert any(o.train_only for o in graphs["googlenet"].outputs)
