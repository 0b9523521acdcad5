"""ConvNeXt beyond the zoo-wide proofs (tests/test_zoo_static.py, test_zoo_equivalence.py): stochastic depth
per block, train mode and the default init."""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm
from test_zoo_equivalence import TOL, max_diff, randomize
from test_zoo_static import spec

import archc


@pytest.mark.parametrize("name", ["convnext_tiny", "convnext_small"])
def test_every_blocks_stochastic_depth_is_torchvisions(name):
    with torch.device("meta"):
        model = archc.build(spec(name))
        reference = getattr(tvm, name)(weights=None)
    ours = {k: (m.p, m.mode) for k, m in model.named_modules() if type(m).__name__ == "StochasticDepth"}
    theirs = {k: (m.p, m.mode) for k, m in reference.named_modules() if type(m).__name__ == "StochasticDepth"}
    assert ours.keys() == theirs.keys() and len(ours) == sum(archc.analyze(spec(name)).params["depths"])
    assert all(ours[k] == pytest.approx(theirs[k]) for k in ours)


def test_convnext_tiny_train_mode_drops_the_same_branches():
    torch.manual_seed(0)
    reference = randomize(tvm.convnext_tiny(weights=None, num_classes=10)).train()
    model = archc.build(spec("convnext_tiny"), input_shape=(3, 32, 32), seed=1, num_classes=10).train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    expected = reference(x)
    torch.manual_seed(3)
    assert max_diff(model(x), expected) <= TOL
    torch.manual_seed(4)
    assert max_diff(model(x), expected) > TOL          # the draws matter: another seed drops others


def test_default_init_is_torchvisions():
    model = archc.build(spec("convnext_tiny"), seed=0, dims=[8, 16, 32, 64], depths=[1, 1, 1, 1])
    assert torch.all(model.features[1][0].layer_scale == 1e-6)
    conv = model.features[1][0].block[0]
    assert torch.all(conv.bias == 0) and conv.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_python_source_of_convnext_has_the_layer_scales_and_computes_the_same():
    from archc.emit.python_source import python_source

    small = {"dims": [8, 16, 32, 64], "depths": [1, 1, 2, 1], "num_classes": 10}
    model = randomize(archc.build(spec("convnext_tiny"), input_shape=(3, 32, 32), seed=0, **small))
    namespace = {}
    exec(python_source(spec("convnext_tiny"), input_shape=(3, 32, 32), **small), namespace)  # noqa: S102
    emitted = namespace["ConvnextTiny"]()
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert max_diff(emitted.eval()(x), model.eval()(x)) <= TOL
