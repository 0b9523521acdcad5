"""The CNN families after 2016, proven equal to torchvision builder by builder (see tests/cnn_zoo.py).

- every builder: params, conv/linear MACs (FlopCounterMode / 2) and output shape equal torchvision's
  model on the meta device, and params and GFLOPs equal the `num_params` / `_ops` of its weights'
  metadata (in the installed package, nothing downloaded);
- every builder under ~100M params (the others: cnn_zoo.META_ONLY): torchvision's state_dict loads strictly and
  eval outputs agree, with variance-preserving random weights and random batch-norm statistics
  (test_zoo_equivalence.randomize);
- one member per family: ONNX export with ONNX Runtime parity (seeded weights with batch-norm statistics
  measured on a random batch: with torch's default init, ShuffleNet's logits hardly depend on the input),
  and `archc graph --depth 2` gives DOT that Graphviz's dot renders;
- family specifics: stochastic depth per block (EfficientNet), train-mode outputs (EfficientNet's drops,
  Inception v3's aux head), per-module init rules (SqueezeNet, Inception v3).

Large builders are marked slow (they still run in CI).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from torchvision.models.regnet import BlockParams

import archc
from archc import runtime
from cnn_zoo import BASES, BUILDERS, FAMILIES, INPUTS, META_ONLY, PUBLISHED_INPUTS, SLOW, TRAIN_ONLY_HEADS
from conftest import SPECS
from test_graph import parse
from test_onnx_zoo import _calibrated as calibrated
from test_zoo_equivalence import assert_same_function, randomize
from test_zoo_static import numel, torch_macs

torch.set_num_threads(1)
ONNX_FAST = "mobilenet_v3"   # each export takes ~45 s on a shared 2-core machine: the others are marked slow


def spec(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


@contextlib.contextmanager
def regnet_tables_on_the_cpu():
    """torchvision's RegNet builders compute their stage table with tensors and read it back (`.tolist()`), which
    the meta device cannot: inside, that computation runs on the CPU, whatever the device of the model."""
    original = BlockParams.__dict__["from_init_params"]

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return original.__func__(cls, *args, **kwargs)

    BlockParams.from_init_params = classmethod(on_cpu)
    try:
        yield
    finally:
        BlockParams.from_init_params = original


def torchvision_model(name: str, device=None, **overrides) -> torch.nn.Module:
    builder, kwargs = BUILDERS[name]
    with torch.device(device or "cpu"), regnet_tables_on_the_cpu():
        return getattr(tvm, builder)(weights=None, **{**kwargs, **overrides})


def slow_marked(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(names)]


@pytest.mark.parametrize("name", slow_marked(BUILDERS))
def test_matches_torchvision_on_the_meta_device(name):
    graph = archc.analyze(spec(name))
    model = torchvision_model(name, "meta").train(name in TRAIN_ONLY_HEADS)   # aux heads run in training
    x = torch.zeros(2, *graph.input_shape, device="meta")
    assert graph.total_params == numel(model)
    assert graph.total_macs == torch_macs(model, x) // 2
    model.eval()
    assert graph.shape_of(graph.outputs[0].node) == tuple(model(x).shape[1:])


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_params_and_gflops_are_torchvisions_published_numbers(name):
    meta = tvm.get_model_weights(BUILDERS[name][0]).DEFAULT.meta
    graph = archc.analyze(spec(name))
    assert graph.total_params == meta["num_params"]        # Inception v3's includes its aux head, its _ops not
    graph = archc.analyze(spec(name), TRAIN_ONLY_HEADS.get(name), PUBLISHED_INPUTS.get(name))
    assert round(graph.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


@pytest.mark.parametrize("name", slow_marked(set(BUILDERS) - META_ONLY))
def test_loads_torchvisions_state_dict_and_computes_the_same(name):
    shape = INPUTS.get(name, (3, 64, 64))
    torch.manual_seed(0)
    reference = randomize(torchvision_model(name))
    model = archc.build(spec(name), input_shape=shape, seed=1)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(2))
    assert_same_function(model, reference, x)


@pytest.mark.parametrize("family", [f if f == ONNX_FAST else pytest.param(f, marks=pytest.mark.slow)
                                    for f in sorted(FAMILIES)])
def test_one_member_exports_to_onnx_with_runtime_parity(family, tmp_path):
    name, shape = FAMILIES[family]
    module = calibrated(name, shape)        # seeded weights, batch-norm statistics measured on a batch
    report = archc.export_onnx(spec(name), tmp_path / "m.onnx", input_shape=shape, weights=module.state_dict())
    assert [p.batch for p in report.parity] == [2, 1] and all(p.ok for p in report.parity)
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(13))
    with torch.no_grad():
        want = module(x).numpy()
    got = runtime.session(report.path, "cpu").run(None, {"input": x.numpy()})[0]
    scale = float(np.abs(want).max())
    assert np.abs(got - want).max() <= 1e-4 * scale
    assert np.abs(want[1:] - want[:1]).max() > 5e-4 * scale, "the outputs hardly depend on the input"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_graph_at_depth_2_is_dot_that_graphviz_renders(family):
    name, _ = FAMILIES[family]
    graph = archc.analyze(spec(name))
    source = archc.graph(spec(name), depth=2).source
    nodes, edges = parse(source)
    assert 3 <= len(nodes) < len(graph.nodes) and edges
    assert all(a in nodes and b in nodes for a, b, _ in edges)
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "<svg" in done.stdout, done.stderr


@pytest.mark.parametrize("base", sorted(BASES))
def test_family_base_is_its_first_member(base):
    ours, member = archc.analyze(spec(base)), archc.analyze(spec(BASES[base]))
    assert [(n.id, n.op, n.attrs, n.shape) for n in ours.nodes] == [(n.id, n.op, n.attrs, n.shape) for n in member.nodes]


def stochastic_depths(model: torch.nn.Module) -> dict[str, tuple[float, str]]:
    return {name: (m.p, m.mode) for name, m in model.named_modules() if type(m).__name__ == "StochasticDepth"}


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b3", "efficientnet_v2_s"])
def test_every_block_has_torchvisions_stochastic_depth(name):
    """Where the block adds its input, its stochastic depth has torchvision's probability and mode (torchvision
    also makes one for blocks without a residual, which never runs: archc leaves it out)."""
    ours = stochastic_depths(archc.build(spec(name), input_shape=(3, 64, 64)))
    model = torchvision_model(name, "meta")
    residual = {f"{path}.stochastic_depth" for path, m in model.named_modules() if getattr(m, "use_res_connect", 0)}
    theirs = {k: v for k, v in stochastic_depths(model).items() if k in residual}
    assert len(theirs) > 5 and ours.keys() == theirs.keys()
    for key, (p, mode) in theirs.items():
        assert ours[key] == (pytest.approx(p, rel=1e-12, abs=1e-15), mode), key


def test_efficientnet_train_mode_draws_the_same_stochastic_depth_and_dropout():
    torch.manual_seed(0)
    reference = randomize(torchvision_model("efficientnet_b0", stochastic_depth_prob=0.5)).train()
    model = archc.build(spec("efficientnet_b0"), input_shape=(3, 64, 64), seed=1, sd_prob=0.5).train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    outputs = []
    for m in (reference, model):
        torch.manual_seed(3)
        outputs.append(m(x))
    assert (outputs[0] - outputs[1]).abs().max().item() <= 1e-5
    torch.manual_seed(4)
    assert (model(x) - outputs[1]).abs().max().item() > 1e-3, "the draws do not matter: the test proves nothing"


def test_squeezenet_final_conv_takes_its_own_init_rule_like_torchvision():
    """init: `classifier.1` (a module path) overrides the conv rule for the final conv only."""
    torch.manual_seed(0)
    ours = archc.build(spec("squeezenet1_0"), seed=0)
    theirs = torchvision_model("squeezenet1_0")
    for path in ("classifier.1", "features.0", "features.3.expand3x3"):
        mine, ref = ours.get_submodule(path), theirs.get_submodule(path)
        assert mine.weight.std().item() == pytest.approx(ref.weight.std().item(), rel=0.1), path
        assert torch.count_nonzero(mine.bias) == 0 == torch.count_nonzero(ref.bias)
    assert ours.get_submodule("classifier.1").weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_inception_v3_train_mode_returns_logits_and_aux_like_torchvision():
    torch.manual_seed(0)
    reference = randomize(torchvision_model("inception_v3", num_classes=10)).train()
    model = archc.build(spec("inception_v3"), seed=1, num_classes=10).train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 299, 299, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)                 # the same dropout masks
    logits, aux = reference(x)
    torch.manual_seed(3)
    outputs = model(x)
    assert isinstance(outputs, tuple) and len(outputs) == 2
    assert (outputs[0] - logits).abs().max().item() <= 1e-4 * logits.abs().max().item()
    assert (outputs[1] - aux).abs().max().item() <= 1e-4 * aux.abs().max().item()
    assert torch.equal(model.eval()(x), model(x)) and model(x).shape == (2, 10)


def test_inception_v3_aux_head_init_rules_and_the_spec_without_it():
    """The aux head's own init rules are globs, so `aux_logits: false` builds; with the head they apply."""
    model = archc.build(spec("inception_v3"), seed=0)
    assert model.get_submodule("AuxLogits.fc").weight.std().item() == pytest.approx(0.001, rel=0.1)
    assert model.get_submodule("AuxLogits.conv1.conv").weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert model.get_submodule("fc").weight.std().item() == pytest.approx(0.1, rel=0.1)
    graph = archc.analyze(spec("inception_v3"), {"aux_logits": False})
    assert graph.total_params == numel(torchvision_model("inception_v3", "meta", aux_logits=False))
