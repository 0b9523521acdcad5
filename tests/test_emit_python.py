"""`--emit python` / archc.emit_python: a standalone file (only torch) equal to the built module.

Each emitted file (one class per block by default, one unrolled class with flat=True) is executed in a
fresh namespace; its model must have the built module's state_dict keys, take its weights strictly,
and compute bit-identical outputs. Every bundled spec's file imports only torch, is ruff-clean, and
is the same text every time.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archc
from conftest import ROOT, SPECS

torch.set_num_threads(1)


def _stages(counts, widths=(4, 8, 8, 16)):
    return [[w, n] for w, n in zip(widths, counts)]


def _arch(convs, widths=(8, 16, 16, 32, 32)):
    return [[n, w] for n, w in zip(convs, widths)]


_DENSE = {"growth": 4, "init_features": 8, "bn_size": 2, "num_classes": 10}
_VGG = {"pool_to": 1, "num_classes": 10}
_REGNET = {"w_0": 8, "w_a": 8.0, "num_classes": 10}  # narrow; each member's depth, w_m, group width and SE

# Every bundled spec: (params, input shape), small inputs and widths where the spec allows (the block
# counts stay those of the spec), so the suite stays fast.
CASES = {
    "alexnet": ({"num_classes": 10}, [3, 63, 63]),
    "alexnet_finetune": ({}, [3, 63, 63]),
    "alexnet_paper": ({"num_classes": 10}, [3, 67, 67]),
    "bn_lenet": ({}, None),
    "densenet": (_DENSE, [3, 32, 32]),
    "densenet121": (_DENSE, [3, 32, 32]),
    "densenet161": (_DENSE, [3, 32, 32]),
    "densenet169": (_DENSE, [3, 32, 32]),
    "densenet201": (_DENSE, [3, 32, 32]),
    "densenet_bc_100": ({}, None),
    "googlenet": ({"num_classes": 10}, [3, 64, 64]),
    "googlenet_d2l": ({}, [1, 64, 64]),
    "lenet": ({}, None),
    "lenet5": ({}, None),
    "nin": ({}, [1, 96, 96]),
    "resnet": ({"stages": _stages([2, 2, 2, 2]), "num_classes": 10}, [3, 32, 32]),
    "resnet18": ({"stages": _stages([2, 2, 2, 2]), "num_classes": 10}, [3, 32, 32]),
    "resnet34": ({"stages": _stages([3, 4, 6, 3]), "num_classes": 10}, [3, 32, 32]),
    "resnet50": ({"stages": _stages([3, 4, 6, 3]), "num_classes": 10}, [3, 32, 32]),
    "resnet101": ({"stages": _stages([3, 4, 23, 3]), "num_classes": 10}, [3, 32, 32]),
    "resnet152": ({"stages": _stages([3, 8, 36, 3]), "num_classes": 10}, [3, 32, 32]),
    "resnet_d2l": ({"arch": [[2, 64], [2, 16], [2, 16], [2, 32]]}, [1, 32, 32]),
    "vgg": ({"arch": _arch([1, 1, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg11": ({"arch": _arch([1, 1, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg11_bn": ({"arch": _arch([1, 1, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg13": ({"arch": _arch([2, 2, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg13_bn": ({"arch": _arch([2, 2, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg16": ({"arch": _arch([2, 2, 3, 3, 3]), **_VGG}, [3, 32, 32]),
    "vgg16_bn": ({"arch": _arch([2, 2, 3, 3, 3]), **_VGG}, [3, 32, 32]),
    "vgg19": ({"arch": _arch([2, 2, 4, 4, 4]), **_VGG}, [3, 32, 32]),
    "vgg19_bn": ({"arch": _arch([2, 2, 4, 4, 4]), **_VGG}, [3, 32, 32]),
    "vgg_small": ({}, [1, 32, 32]),
    **{p.stem: (_REGNET, [3, 32, 32]) for p in SPECS.glob("regnet*.yaml")},
}


# Not cases yet: the zoo families added on 2026-12-01. Those whose ops lower to archc's own torch modules
# (archc/nn: ConvNeXt, ViT, Swin, MaxViT, and stochastic depth / chunk in EfficientNet, MobileNetV3,
# ShuffleNet) make the emitted file import archc.nn instead of inlining it; for the others (MnasNet,
# SqueezeNet, ResNeXt, Wide ResNet, Inception v3) small-input cases are still to be written.
ARCHC_NN_FAMILIES = ("convnext", "vit", "swin", "maxvit", "efficientnet", "mobilenet", "mnasnet", "shufflenet",
                     "squeezenet", "resnext", "wide_resnet", "inception")


def test_every_bundled_spec_has_a_case():
    pending = {p.stem for p in SPECS.glob("*.yaml") if p.stem.startswith(ARCHC_NN_FAMILIES)}
    assert set(CASES) == {p.stem for p in SPECS.glob("*.yaml")} - pending


def emitted_class(source: str):
    """The model class of an emitted file (the last class it defines), executed in a fresh namespace."""
    namespace: dict = {"__name__": "emitted"}
    exec(compile(source, "<emitted>", "exec"), namespace)  # noqa: S102  (archc's own output under test)
    return [v for v in namespace.values() if isinstance(v, type) and v.__module__ == "emitted"][-1]


def built_and_emitted(name, flat=False):
    params, shape = CASES[name]
    model = archc.build(SPECS / f"{name}.yaml", input_shape=shape, seed=0, **params)
    source = archc.emit_python(SPECS / f"{name}.yaml", input_shape=shape, flat=flat, **params)
    emitted = emitted_class(source)()
    emitted.load_state_dict(model.state_dict(), strict=True)
    return model, emitted, source, archc.analyze(SPECS / f"{name}.yaml", params, shape).input_shape


# The flat form (--flat) on the specs the suite always checked it with.
FLAT = ["lenet5", "resnet18", "googlenet", "densenet_bc_100", "alexnet_paper", "vgg11_bn", "nin"]


@pytest.mark.parametrize(("name", "flat"), [(n, False) for n in CASES] + [(n, True) for n in FLAT])
def test_emitted_module_equals_the_built_one(name, flat):
    model, emitted, _, input_shape = built_and_emitted(name, flat)
    assert list(emitted.state_dict()) == list(model.state_dict())
    x = torch.randn(2, *input_shape)
    model.eval(), emitted.eval()
    with torch.no_grad():
        assert torch.equal(emitted(x), model(x))


@pytest.mark.parametrize("flat", [False, True], ids=["classes", "flat"])
def test_googlenet_aux_heads_in_train_and_eval_mode(flat):
    model, emitted, _, input_shape = built_and_emitted("googlenet", flat)
    x = torch.randn(2, *input_shape)
    torch.manual_seed(1)
    ours = model.train()(x)
    torch.manual_seed(1)
    theirs = emitted.train()(x)
    assert len(ours) == len(theirs) == 3
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    ran = []
    emitted.aux1.register_forward_pre_hook(lambda *args: ran.append("aux1"))
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), model.eval()(x))
    assert ran == []


def test_emitted_file_runs_in_a_process_without_archc(tmp_path):
    model, _, source, input_shape = built_and_emitted("resnet18")
    (tmp_path / "resnet_emitted.py").write_text(source)
    x = torch.randn(2, *input_shape)
    with torch.no_grad():
        torch.save({"state_dict": model.state_dict(), "x": x, "y": model.eval()(x)}, tmp_path / "data.pt")
    code = ("import sys, torch, resnet_emitted as m\n"
            "d = torch.load('data.pt', weights_only=True)\n"
            "model = m.Resnet18()\n"
            "model.load_state_dict(d['state_dict'], strict=True)\n"
            "with torch.no_grad():\n"
            "    assert torch.equal(model.eval()(d['x']), d['y'])\n"
            "assert 'archc' not in sys.modules, 'the emitted file imported archc'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr


def _tree(source: str):
    tree = ast.parse(source)
    return tree, {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _methods(cls: ast.ClassDef) -> dict:
    return {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}


def test_emitted_source_is_readable():
    source = archc.emit_python(SPECS / "resnet18.yaml", num_classes=10)
    tree, classes = _tree(source)
    header = ast.get_docstring(tree)
    assert header.startswith("resnet18: generated by archc") and "resnet18.yaml" in header
    assert "num_classes=10" in header
    assert list(classes) == ["Basic", "Resnet18"]  # one class per block of the spec, then the model
    model = _methods(classes["Resnet18"])
    init_targets = [node.targets[0].attr for node in ast.walk(model["__init__"])
                    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute)]
    assert init_targets[:4] == ["conv1", "bn1", "relu", "maxpool"]  # named like the spec, in order
    lines = ast.get_source_segment(source, model["forward"]).splitlines()
    assert "x = self.conv1(x)  # [N, 64, 112, 112]" in lines[1]  # the statement says the shape it makes
    assert "        x = self.layer1(x)  # [N, 64, 56, 56]" in lines  # a stage of blocks is one call
    assert '["' not in source and "getattr" not in source  # readable names: no `layer1_0["6"]`


def test_block_classes_take_what_differs_between_instances():
    source = archc.emit_python(SPECS / "resnet50.yaml")
    _, classes = _tree(source)
    assert list(classes) == ["Bottleneck", "Resnet50"]
    init = _methods(classes["Bottleneck"])["__init__"]
    assert [a.arg for a in init.args.args] == ["self", "in_channels", "width", "stride", "downsample"]
    assert [ast.literal_eval(d) for d in init.args.defaults] == [1, False]
    assert "self.downsample = None\n        if downsample:" in source  # the projection is optional
    assert "nn.Conv2d(width, 4 * width, 1, bias=False)" in source  # conv3, from the spec's `4 * width`
    assert "Bottleneck(64, 64, downsample=True)," in source
    assert "Bottleneck(256, 128, stride=2, downsample=True)" in source


def test_repeated_blocks_become_loops():
    resnet = archc.emit_python(SPECS / "resnet152.yaml")
    assert "*[Bottleneck(1024, 256) for _ in range(35)]," in resnet
    dense = archc.emit_python(SPECS / "densenet121.yaml")
    assert '{f"denselayer{i + 1}": DenseLayer(64 + i * 32) for i in range(6)}' in dense
    assert list(_tree(dense)[1]) == ["Chain", "DenseBlock", "DenseLayer", "Transition", "Densenet121"]
    assert "x = self.features(x)  # [N, 1024, 7, 7]" in dense  # a named group run in turn is one call


def test_optional_layers_and_block_params_keep_the_spec_names():
    d2l = archc.emit_python(SPECS / "resnet_d2l.yaml")
    assert "self.conv3 = nn.Conv2d(in_channels, width, 1, stride=2) if use_1x1conv else None" in d2l
    googlenet = archc.emit_python(SPECS / "googlenet.yaml")
    assert list(_tree(googlenet)[1]) == ["BasicConv", "Inception", "InceptionAux", "Googlenet"]
    assert "BasicConv(in_channels, c2[0], 1)" in googlenet and "BasicConv(c2[0], c2[1], 3, padding=1)" in googlenet
    assert "Inception(192, 64, [96, 128], [16, 32], 32)" in googlenet


def test_instances_that_differ_in_structure_become_separate_classes():
    spec = {"name": "mixed", "input": [2, 8, 8],
            "blocks": {"unit": {"params": {"k": "int"}, "layers": [
                {"conv": {"name": "conv", "out": 4, "kernel": 3, "padding": 1}},
                {"if": "k > 1", "then": [{"relu": {"name": "act"}}], "else": [{"add": {"a": [], "b": []}}]}]}},
            "layers": [{"unit": {"k": 1}}, {"unit": {"k": 2}}, {"unit": {"k": 3}}, "flatten"]}
    source = archc.emit_python(spec)
    assert list(_tree(source)[1]) == ["Unit", "Unit2", "Mixed"]
    model = archc.build(spec, seed=0)
    emitted = emitted_class(source)()
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), model.eval()(x))


def _ruff():
    try:
        import ruff  # noqa: F401
    except ImportError:
        path = shutil.which("ruff")
        return [path] if path else pytest.skip("ruff is not installed (pip install ruff; it is in the dev extra)")
    return [sys.executable, "-m", "ruff"]


def test_every_emitted_file_imports_only_torch_and_is_ruff_clean(tmp_path):
    for name, (params, shape) in CASES.items():
        source = archc.emit_python(SPECS / f"{name}.yaml", input_shape=shape, **params)
        tree = ast.parse(source)
        roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert roots == {"torch"}, name
        (tmp_path / f"{name}.py").write_text(source)
    ruff = _ruff()
    for command in (["check", "--isolated", "--no-cache"], ["format", "--isolated", "--no-cache", "--check"]):
        result = subprocess.run([*ruff, *command, str(tmp_path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_spec_gives_the_same_text():
    names = [str(SPECS / f"{name}.yaml") for name in ("googlenet", "densenet_bc_100", "resnet_d2l")]
    here = [archc.emit_python(name) for name in names]
    assert [archc.emit_python(name) for name in names] == here
    # another process, where sets and dicts of str order differently (another hash seed)
    code = "import sys, archc; sys.stdout.write('\\0'.join(archc.emit_python(n) for n in sys.argv[1:]))"
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": seed}).stdout
    assert out.split("\0") == here


def test_init_section_becomes_init_code():
    spec = {"name": "init", "input": [3, 8, 8],
            "init": {"conv": {"weight": 0.5, "bias": 0}, "linear": {"weight": {"constant": {"val": 2}}}},
            "layers": [{"conv": {"out": 4, "kernel": 3}}, "flatten", {"linear": {"out": 2}}]}
    emitted = emitted_class(archc.emit_python(spec))()
    assert torch.equal(emitted[0].weight, torch.full((4, 3, 3, 3), 0.5))
    assert torch.equal(emitted[0].bias, torch.zeros(4))
    assert torch.equal(emitted[2].weight, torch.full((2, 144), 2.0))
    built = archc.build(spec)
    assert torch.equal(built[0].weight, emitted[0].weight) and torch.equal(built[2].weight, emitted[2].weight)



def _lines(text: str) -> int:
    return len(text.splitlines())


def test_emitted_files_are_smaller_than_torchvision_sources():
    import importlib

    goals = {"resnet152": ("resnet", 1.5), "densenet201": ("densenet", 2), "googlenet": ("googlenet", 2)}
    for spec, (module, goal) in goals.items():
        theirs = _lines(Path(importlib.import_module(f"torchvision.models.{module}").__file__).read_text())
        ours = _lines(archc.emit_python(SPECS / f"{spec}.yaml"))
        assert ours <= goal * theirs, (spec, ours, theirs)


def test_the_doc_shows_the_emitted_resnet50_and_its_sizes(monkeypatch):
    doc = (ROOT / "docs" / "python-source.md").read_text()
    monkeypatch.chdir(ROOT)  # the header names the spec as the doc's command does, from the repository root
    shown = doc.split("## ResNet-50", 1)[1].split("```python\n", 1)[1].rsplit("```", 1)[0]
    assert shown == archc.emit_python("specs/resnet50.yaml"), \
        "regenerate the file in docs/python-source.md: archc build specs/resnet50.yaml --emit python"
    for spec in ("resnet152", "densenet201", "googlenet"):
        ours = _lines(archc.emit_python(f"specs/{spec}.yaml"))
        flat = _lines(archc.emit_python(f"specs/{spec}.yaml", flat=True))
        assert f"| {spec} | {ours} | {flat:,} |" in doc, f"update the size table of docs/python-source.md ({spec})"


# -- random specs built from blocks: whatever the mix, the emitted classes compute what archc.build does --

_FUZZ_BLOCKS = {
    "res": {"params": {"width": "int", "stride": 1}, "layers": [
        {"add": {"_main": [{"conv": {"name": "conv", "out": "width", "kernel": 3, "stride": "stride", "padding": 1}},
                           {"batchnorm": {"name": "bn"}}, "relu"],
                 "proj": [{"if": "stride != 1 or in_channels != width",
                           "then": [{"conv": {"out": "width", "kernel": 1, "stride": "stride"}}]}]}},
        {"relu": {"name": "act"}}]},
    "pick": {"params": {"k": "int"}, "layers": [
        {"if": "k > 1", "then": [{"conv": {"name": "conv", "out": "in_channels", "kernel": 3, "padding": 1}}, "relu"],
         "else": [{"maxpool": {"kernel": 3, "stride": 1, "padding": 1}}]}]},
    "unit": {"params": {"width": "int"}, "layers": [
        "relu", {"conv": {"out": "width", "kernel": 1}}, {"batchnorm": {}}]},
    "grow": {"layers": ["batchnorm", "relu", {"conv": {"name": "conv", "out": 2, "kernel": 3, "padding": 1}}]},
    "shrink": {"params": {"s": "int"}, "layers": [  # without `pre`, `post`'s ReLU sees the block's input
        {"group": {"name": "pre", "layers": [{"if": "s > 1", "then": [{"maxpool": {"kernel": "s", "stride": "s"}}]}]}},
        {"group": {"name": "post", "layers": ["relu", {"conv": {"out": "in_channels", "kernel": 1}}]}}]},
}


def _fuzz_item():
    from hypothesis import strategies as st

    width = st.integers(1, 6)
    res = st.builds(lambda w, s: {"res": {"width": w, "stride": s}}, width, st.sampled_from([1, 1, 2]))
    stage = st.builds(lambda n, w: {"for": "i", "in": n, "do": [{"res": {"width": w, "stride": "2 if i == 0 else 1"}}]},
                      st.integers(1, 3), width)
    pick = st.builds(lambda k: {"pick": {"k": k}}, st.integers(1, 3))
    unit = st.builds(lambda w: {"unit": {"width": w}}, width)
    shrink = st.builds(lambda s: {"shrink": {"s": s}}, st.sampled_from([1, 1, 2]))
    dense = st.builds(lambda n: {"dense": {"layers": [{"for": "_", "in": n, "do": ["grow"]}]}}, st.integers(1, 4))
    plain = st.sampled_from(["relu", {"conv": {"out": 3, "kernel": 1}}, {"group": [{"unit": {"width": 2}}, "relu"]},
                             {"add": {"_a": [{"shrink": {"s": 1}}], "_b": []}},
                             {"group": {"name": "named", "layers": [{"relu": {"name": "act"}}, {"unit": {"width": 3}}]}}])
    return st.one_of(res, stage, pick, unit, shrink, dense, plain)


def _fuzz_specs():
    from hypothesis import strategies as st

    return st.builds(lambda c, body: {"name": "fuzz", "input": [c, 8, 8], "blocks": _FUZZ_BLOCKS,
                                      "layers": [*body, {"adaptive_avgpool": {"out": 1}}, "flatten"]},
                     st.integers(1, 4), st.lists(_fuzz_item(), min_size=1, max_size=5))


def test_random_block_mixes_emit_equal_modules():
    from hypothesis import HealthCheck, assume, given, settings

    from archc.errors import SpecError

    @settings(max_examples=int(os.environ.get("ARCHC_EMIT_FUZZ", "40")), deadline=None,
              derandomize="ARCHC_EMIT_FUZZ" not in os.environ, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_fuzz_specs())
    def check(spec):
        try:
            graph = archc.analyze(spec)
        except SpecError:
            assume(False)
        model = archc.build(spec, seed=0)
        emitted = emitted_class(archc.emit_python(spec))()
        assert list(emitted.state_dict()) == list(model.state_dict())
        emitted.load_state_dict(model.state_dict(), strict=True)
        x = torch.randn(2, *graph.input_shape)
        with torch.no_grad():
            assert torch.equal(emitted.eval()(x), model.eval()(x))

    check()


@pytest.mark.parametrize("name", ["resnet50", "densenet_bc_100", "resnet_d2l"])
def test_emitted_module_trains_like_the_built_one(name):
    """Train mode and backward: the in-place layers of shared block code are safe for autograd, and the
    gradients are those of the built module."""
    model, emitted, _, input_shape = built_and_emitted(name)
    x = torch.randn(2, *input_shape)
    model.train()(x).sum().backward()
    emitted.train()(x).sum().backward()
    ours = dict(emitted.named_parameters())
    for key, param in model.named_parameters():
        assert torch.equal(ours[key].grad, param.grad), key


@pytest.mark.parametrize("flat", [False, True], ids=["classes", "flat"])
def test_layers_named_like_python_keywords(flat):
    spec = {"name": "kw", "input": [3, 8, 8], "init": {"def.lambda": {"weight": 0.5}},
            "blocks": {"b": {"layers": [{"conv": {"name": "lambda", "out": 2, "kernel": 1}}, {"relu": {"name": "class"}}]}},
            "layers": [{"b": {"name": "def"}}, {"b": {}}, "flatten"]}
    model = archc.build(spec, seed=0)
    emitted = emitted_class(archc.emit_python(spec, flat=flat))()
    assert torch.equal(emitted.state_dict()["def.lambda.weight"], torch.full((2, 3, 1, 1), 0.5))
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(emitted(x), model(x))
