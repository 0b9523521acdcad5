"""archc.build against torchvision itself: module tree, state_dict keys, outputs, determinism."""

from __future__ import annotations

import copy
import math
import pickle
import subprocess
import sys

import pytest
import torch
import torchvision

import archc
from archc.init import SKIP_DEFAULT_INIT_FROM, default_bias_
from conftest import SPECS

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_matches_torchvision(name):
    model = archc.build(SPECS / f"{name}.yaml")
    reference = getattr(torchvision.models, name)(weights=None)
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval(), reference.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)


def test_levels_are_indexable_and_named_like_the_spec():
    model = archc.build(SPECS / "resnet18.yaml")
    assert isinstance(model.layer1, torch.nn.Sequential) and len(model.layer2) == 2
    assert model.layer2[0].downsample[0].stride == (2, 2)
    assert model.get_submodule("layer2.0.conv1") is model.layer2[0].conv1


def test_params_override_like_set():
    model = archc.build(SPECS / "resnet18.yaml", num_classes=10)
    assert model.fc.out_features == 10
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_seed_makes_builds_identical_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    first = archc.build(SPECS / "resnet18.yaml", seed=3).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    second = archc.build(SPECS / "resnet18.yaml", seed=3).state_dict()
    third = archc.build(SPECS / "resnet18.yaml", seed=4).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["conv1.weight"], third["conv1.weight"])


TINY = """
name: tiny
input: [3, 8, 8]
layers:
  - conv: {name: stem, out: 4, kernel: 3, padding: 1}
  - relu
  - add:
      a: [conv: {out: 4, kernel: 3, padding: 1}, batchnorm]
      b: []
  - relu
  - adaptive_avgpool: {out: 1}
  - flatten
  - linear: {name: head, out: 2}
"""


def _same_outputs(a, b, x):
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_deepcopy_pickle_and_device_move():
    model = archc.build(TINY, seed=0)
    x = torch.randn(2, 3, 8, 8)
    _same_outputs(model, copy.deepcopy(model), x)
    _same_outputs(model, pickle.loads(pickle.dumps(model)), x)
    _same_outputs(model, copy.deepcopy(model).to("cpu", torch.float64).float(), x)


def test_unpickles_in_a_fresh_process(tmp_path):
    model = archc.build(TINY, seed=0).eval()
    x = torch.randn(2, 3, 8, 8)
    torch.save({"model": model, "x": x, "y": model(x).detach()}, tmp_path / "m.pt")
    code = ("import torch; d = torch.load(r'%s', weights_only=False); "
            "assert torch.equal(d['model'](d['x']), d['y'])" % (tmp_path / "m.pt"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_torch_compile_and_export():
    model = archc.build(TINY, seed=0).eval()
    x = torch.randn(2, 3, 8, 8)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


def test_import_archc_stays_torch_free():
    code = "import sys, archc; archc.analyze(r'%s'); assert 'torch' not in sys.modules" % (SPECS / "resnet18.yaml")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_googlenet_aux_heads_only_in_training():
    model = archc.build(SPECS / "googlenet.yaml")
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    assert set(model.state_dict()) == set(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(0)
    ours = model.train()(x)
    torch.manual_seed(0)
    theirs = reference.train()(x)
    assert len(ours) == 3
    for a, b in zip(ours, (theirs.logits, theirs.aux_logits2, theirs.aux_logits1)):
        assert torch.equal(a, b)
    ran = []
    model.aux1.fc1.register_forward_hook(lambda *args: ran.append("aux1"))
    model.aux2.register_forward_pre_hook(lambda *args: ran.append("aux2"))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))
    assert ran == []


def test_train_only_outputs_of_a_small_spec():
    spec = {"name": "heads", "input": [3, 8, 8], "layers": [
        {"conv": {"name": "stem", "out": 4, "kernel": 3, "padding": 1}},
        {"flatten": {"name": "flat_aux", "side": True}},
        {"linear": {"name": "aux", "out": 5, "from": "flat_aux", "side": True}},
        {"adaptive_avgpool": {"name": "pool", "out": 1}},
        {"flatten": {"name": "flat"}},
        {"linear": {"name": "head", "out": 2}},
    ], "outputs": ["head", {"from": "aux", "train_only": True}]}
    model = archc.build(spec, seed=0)
    x = torch.randn(2, 3, 8, 8)
    head, aux = model.train()(x)
    assert head.shape == (2, 2) and aux.shape == (2, 5)
    ran = []
    model.aux.register_forward_hook(lambda *args: ran.append(1))
    assert torch.equal(model.eval()(x), head)
    assert ran == []
    exported = torch.export.export(model, (x,))
    assert torch.equal(exported.module()(x), head)


INIT = """
name: init
input: [3, 8, 8]
init:
  conv: {weight: {kaiming_normal: {mode: fan_out, nonlinearity: relu}}, bias: 0}
  batchnorm: {weight: 1, bias: 0}
  linear: xavier_uniform
layers:
  - conv: {out: 8, kernel: 3}
  - batchnorm
  - relu
  - flatten
  - linear: {out: 4}
"""


def test_init_rules_follow_torch_init():
    model = archc.build(INIT, seed=7)
    torch.manual_seed(7)
    torch.nn.Conv2d(3, 8, 3)  # a small layer is made normally: torch's default draws come first
    expected = torch.nn.init.kaiming_normal_(torch.empty(8, 3, 3, 3), mode="fan_out", nonlinearity="relu")
    assert torch.equal(model[0].weight, expected)
    assert torch.equal(model[0].bias, torch.zeros(8))
    assert torch.equal(model[1].weight, torch.ones(8)) and torch.equal(model[1].bias, torch.zeros(8))
    assert torch.equal(model[1].running_var, torch.ones(8))
    bound = (6 / (8 * 6 * 6 + 4)) ** 0.5
    assert model[4].weight.abs().max() <= bound
    default_bound = 1 / (8 * 6 * 6) ** 0.5  # the bias keeps torch's default
    assert 0 < model[4].bias.abs().max() <= default_bound


LARGE_INIT = f"""
name: large_init
input: [64, 4, 4]
init:
  conv: {{weight: {{kaiming_normal: {{mode: fan_out}}}}}}
  linear: {{weight: {{normal: {{std: 0.01}}}}}}
layers:
  - conv: {{out: {SKIP_DEFAULT_INIT_FROM // (64 * 9) + 1}, kernel: 3}}
  - flatten
  - linear: {{out: {SKIP_DEFAULT_INIT_FROM // 2 + 1}}}
"""


def test_large_layers_skip_torch_default_init_and_keep_its_default_bias():
    model = archc.build(LARGE_INIT, seed=3)
    conv, linear = model[0], model[2]
    assert conv.weight.numel() >= SKIP_DEFAULT_INIT_FROM and linear.weight.numel() >= SKIP_DEFAULT_INIT_FROM
    torch.manual_seed(3)
    conv_weight = torch.nn.init.kaiming_normal_(torch.empty_like(conv.weight), mode="fan_out")
    conv_bias = torch.empty_like(conv.bias)
    default_bias_(conv_bias, conv_weight)
    linear_weight = torch.nn.init.normal_(torch.empty_like(linear.weight), std=0.01)
    linear_bias = torch.empty_like(linear.bias)
    default_bias_(linear_bias, linear_weight)
    for built, expected in [(conv.weight, conv_weight), (conv.bias, conv_bias), (linear.weight, linear_weight),
                            (linear.bias, linear_bias)]:
        assert built.device.type == "cpu" and torch.equal(built, expected)


@pytest.mark.parametrize("make", [lambda: torch.nn.Linear(100, 30), lambda: torch.nn.Conv2d(6, 12, 5, groups=3)])
def test_default_bias_is_torchs_own_bias_init(make):
    torch.manual_seed(5)
    reference = make()
    torch.manual_seed(5)
    weight = torch.nn.init.kaiming_uniform_(torch.empty_like(reference.weight), a=math.sqrt(5))
    bias = torch.empty_like(reference.bias)
    default_bias_(bias, weight)
    assert torch.equal(weight, reference.weight) and torch.equal(bias, reference.bias)


def test_without_init_section_modules_get_torch_defaults():
    model = archc.build("name: d\ninput: [3, 8, 8]\nlayers: [conv: {out: 4, kernel: 3}]\n", seed=1)
    torch.manual_seed(1)
    reference = torch.nn.Conv2d(3, 4, 3)
    assert torch.equal(model[0].weight, reference.weight) and torch.equal(model[0].bias, reference.bias)


def test_layer_name_clashing_with_a_module_attribute_is_a_spec_error():
    with pytest.raises(archc.SpecError, match="is an attribute of torch's modules"):
        archc.build("name: c\ninput: [3, 8, 8]\nlayers:\n  - conv: {name: forward, out: 4, kernel: 3}\n")


# -- the bundled specs declare their reference's initialisation ---------------------------------------
def _seeded(seed, make):
    torch.manual_seed(seed)
    return make()


def _d2l_first_conv(out, kernel, padding=0):
    """d2l builds the layer with torch's defaults, then init_cnn draws Xavier-uniform weights."""
    def make():
        conv = torch.nn.Conv2d(1, out, kernel, padding=padding)
        torch.nn.init.xavier_uniform_(conv.weight)
        return conv.weight
    return make


def _default_then(in_channels, out, kernel, bias, rule):
    """A small layer is made with torch's defaults (drawing weight, then bias), then the rule draws."""
    def make():
        conv = torch.nn.Conv2d(in_channels, out, kernel, bias=bias)
        with torch.no_grad():
            rule(conv.weight)
        return conv.weight
    return make


INIT_REFERENCES = {
    # spec: (first layer's weight, the reference's draws for it; these first layers are all small)
    "resnet18": ("conv1.weight", _default_then(3, 64, 7, False, lambda w: torch.nn.init.kaiming_normal_(
        w, mode="fan_out", nonlinearity="relu"))),
    "densenet121": ("features.conv0.weight", _default_then(3, 64, 7, False, torch.nn.init.kaiming_normal_)),
    "densenet_bc_100": ("conv1.weight", _default_then(3, 24, 3, False,
                                                      lambda w: w.normal_(0, (2 / (3 * 3 * 24)) ** 0.5))),
    "vgg11": ("features.0.weight", _default_then(3, 64, 3, True, lambda w: torch.nn.init.kaiming_normal_(
        w, mode="fan_out", nonlinearity="relu"))),
    "googlenet": ("conv1.conv.weight", _default_then(3, 64, 7, False, lambda w: torch.nn.init.trunc_normal_(
        w, mean=0.0, std=0.01, a=-2, b=2))),
    "lenet": ("0.weight", _d2l_first_conv(6, 5, padding=2)),
    "nin": ("0.0.weight", _d2l_first_conv(96, 11)),
}


@pytest.mark.parametrize("name", list(INIT_REFERENCES))
def test_zoo_spec_initialises_like_its_reference(name):
    key, reference = INIT_REFERENCES[name]
    params = {"num_classes": 10} if name in ("resnet18", "densenet121", "vgg11", "googlenet") else {}
    model = archc.build(SPECS / f"{name}.yaml", seed=11, **params)
    assert torch.equal(model.state_dict()[key], _seeded(11, reference))
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        assert torch.equal(norm.weight, torch.ones_like(norm.weight)) and not norm.bias.any()


def test_resnet_deep_conv_follows_kaiming_fan_out():
    weight = archc.build(SPECS / "resnet18.yaml", seed=0).layer4[1].conv2.weight
    assert abs(weight.std().item() / (2 / (512 * 9)) ** 0.5 - 1) < 0.01  # 2.4M draws


def test_densenet_linear_bias_is_zero_and_vgg_linear_is_normal_001():
    assert torch.equal(archc.build(SPECS / "densenet_bc_100.yaml", seed=0).fc.bias, torch.zeros(10))
    vgg = archc.build(SPECS / "vgg11.yaml", seed=0, num_classes=10)
    assert abs(vgg.classifier[0].weight.std().item() / 0.01 - 1) < 0.01 and not vgg.classifier[0].bias.any()
    assert not vgg.features[0].bias.any()


def test_a_spec_that_extends_replaces_the_init_section():
    small = archc.build(SPECS / "vgg_small.yaml", seed=3)  # d2l's Xavier init, not torchvision VGG's
    assert small.features[0].bias.any()  # d2l keeps torch's default bias
    bound = (6 / (1 * 9 + 16 * 9)) ** 0.5
    assert small.features[0].weight.abs().max() <= bound


def test_ddp_single_process_gloo(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = torch.nn.parallel.DistributedDataParallel(archc.build(TINY, seed=0))
        loss = model(torch.randn(4, 3, 8, 8)).square().sum()
        loss.backward()
        assert model.module.stem.weight.grad is not None and model.module.head.weight.grad.abs().sum() > 0
    finally:
        dist.destroy_process_group()


# -- many equal layers: copies of one prototype (archc/emit/prototypes.py) ----------------------------

PROTOTYPE_SPEC = """name: copies
input: [4, 8, 8]
layers:
  - for: i
    in: 3
    do: [{conv: {out: 4, kernel: 3, padding: 1}}, batchnorm, relu, {dropout: {p: 0.1}}]
  - flatten
  - for: i
    in: 2
    do: [{linear: {out: 256}}]
"""


def test_layers_copied_from_a_prototype_draw_what_their_constructors_draw(monkeypatch):
    from archc.emit import torch_module

    copied = archc.build(PROTOTYPE_SPEC, seed=3)
    monkeypatch.setattr(torch_module, "Prototypes", lambda meta=False: None)  # every module constructed
    constructed = archc.build(PROTOTYPE_SPEC, seed=3)
    assert copied.state_dict().keys() == constructed.state_dict().keys()
    for key, value in constructed.state_dict().items():
        assert torch.equal(copied.state_dict()[key], value), key
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(copied.eval()(x), constructed.eval()(x))


def test_copies_share_nothing_mutable():
    model = archc.build(PROTOTYPE_SPEC, seed=0)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and convs[0] is not convs[1]
    assert convs[0]._parameters is not convs[1]._parameters and convs[0].weight is not convs[1].weight
    assert not torch.equal(convs[0].weight, convs[1].weight)  # each drew its own weights
    with torch.no_grad():
        convs[0].weight.zero_()
    assert convs[1].weight.abs().sum() > 0
    meta = archc.emit.build.build_from_graph(archc.analyze(PROTOTYPE_SPEC), {}, device="meta")
    assert all(p.is_meta for p in meta.parameters()) and sum(p.numel() for p in meta.parameters()) == \
        sum(p.numel() for p in model.parameters())


def test_prototypes_kept_between_builds_follow_the_default_dtype():
    assert archc.build(PROTOTYPE_SPEC, seed=0)[0].weight.dtype == torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = archc.build(PROTOTYPE_SPEC, seed=0)
    finally:
        torch.set_default_dtype(previous)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    assert torch.nn.Conv2d(4, 4, 3).weight.dtype == torch.float32
