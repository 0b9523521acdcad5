"""`archc import`: specs from torchvision models and users' factories, checked against the source module."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torchvision
import yaml
from conftest import SPECS

import archc
from archc.cli import run

FAMILIES = ["alexnet", "vgg11_bn", "resnet50", "densenet121", "googlenet"]  # one builder per bundled family


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """name -> path of its imported spec (each imported once for the module's tests)."""
    folder = tmp_path_factory.mktemp("imports")
    done = {}

    def get(name: str):
        if name not in done:
            path = folder / f"{name}.yaml"
            assert run(["import", f"torchvision:{name}", "-o", str(path)]) == 0
            done[name] = path
        return done[name]

    return get


@pytest.mark.parametrize("name", FAMILIES)
def test_import_equals_the_bundled_spec(name, imported, capsys):
    path = imported(name)
    assert run(["diff", str(path), name]) == 0
    assert "no differences in structure, params or shapes" in capsys.readouterr().out
    with torch.device("meta"):
        source = getattr(torchvision.models, name)(weights=None, **({"init_weights": False} if name == "googlenet" else {}))
        built = archc.build(path)
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in source.state_dict().items()}


@pytest.mark.parametrize("name, size", [("alexnet", 96), ("resnet18", 64), ("densenet121", 64), ("googlenet", 64)])
def test_import_builds_loads_strictly_and_gives_equal_outputs(name, size, imported):
    torch.manual_seed(0)
    source = getattr(torchvision.models, name)(weights=None, **({"init_weights": True} if name == "googlenet" else {}))
    model = archc.build(imported(name))
    model.load_state_dict(source.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    source.eval(), model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=1e-4, atol=1e-5)


def test_resnet50_reads_as_blocks_and_loops(imported):
    text = imported("resnet50").read_text()
    hand_written = len((SPECS / "resnet.yaml").read_text().splitlines()) + len((SPECS / "resnet50.yaml").read_text().splitlines())
    assert len(text.splitlines()) <= 3 * hand_written
    spec = yaml.safe_load(text)
    assert len(spec["blocks"]) == 2  # the bottleneck with and without its projection
    assert "4 * out" in text  # conv3 widens by the expansion, written as an expression
    assert any("for" in item for item in spec["layers"]["layer3"])


def test_googlenet_aux_heads_are_train_only_outputs(imported):
    spec = yaml.safe_load(imported("googlenet").read_text())
    assert spec["outputs"] == ["fc", {"from": "aux2", "train_only": True}, {"from": "aux1", "train_only": True}]
    model = archc.build(imported("googlenet")).train()
    assert len(model(torch.randn(2, 3, 64, 64))) == 3


def test_weights_file_is_what_export_takes(tmp_path, capsys):
    spec, weights = tmp_path / "r18.yaml", tmp_path / "r18.pt"
    assert run(["import", "torchvision:resnet18", "-o", str(spec), "--weights", str(weights)]) == 0
    model = archc.load(weights).eval()
    saved = torch.load(weights, weights_only=True)["state_dict"]
    assert set(saved) == set(torchvision.models.resnet18().state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key])
    assert run(["export", str(spec), "--onnx", "--weights", str(weights), "-o", str(tmp_path / "r18.onnx"),
                "--input", "3x64x64", "--no-check"]) == 0


def _factory(tmp_path, monkeypatch, body: str, module: str) -> str:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{module}:make"


def test_user_factory(tmp_path, monkeypatch):
    source = _factory(tmp_path, monkeypatch, """
        import torch
        import torch.nn as nn
        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8 * 4 * 4, 5)
            def forward(self, x):
                return self.fc(torch.flatten(x, 1))
        def make():
            return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(4), Head())
    """, "user_models_ok")
    out, weights = tmp_path / "user.yaml", tmp_path / "user.pt"
    torch.manual_seed(0)
    assert run(["import", source, "-o", str(out), "--input", "1x16x16", "--weights", str(weights)]) == 0
    import user_models_ok as user_models

    torch.manual_seed(0)
    reference = user_models.make().eval()  # the same weights as the imported one had
    model = archc.build(out).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    saved = torch.load(weights, weights_only=True)["state_dict"]  # the tracing forward changed no statistics
    assert all(torch.equal(saved[k], v) for k, v in reference.state_dict().items())
    x = torch.randn(3, 1, 16, 16)
    torch.testing.assert_close(model(x), reference(x))


def test_cat_on_another_dim_and_flatten_with_an_end_keep_their_dims(tmp_path, monkeypatch):
    source = _factory(tmp_path, monkeypatch, """
        import torch
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)
                self.a = nn.Conv2d(4, 4, 1)
                self.b = nn.Conv2d(4, 4, 1)
            def forward(self, x):
                x = self.conv(x)
                return torch.flatten(torch.cat([self.a(x), self.b(x)], dim=-1), 1, 2)
        def make():
            return Net()
    """, "user_models_cat")
    out = tmp_path / "cat.yaml"
    assert run(["import", source, "-o", str(out), "--input", "1x8x8"]) == 0
    layers = yaml.safe_load(out.read_text())["layers"]
    assert layers[1]["concat"]["dim"] == -1 and layers[2]["flatten"]["end"] == 2
    import user_models_cat

    reference = user_models_cat.make().eval()
    model = archc.build(out).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(model(x), reference(x))


def test_unsupported_module_names_it_and_its_path(tmp_path, monkeypatch, capsys):
    source = _factory(tmp_path, monkeypatch, """
        import torch.nn as nn
        def make():
            return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.PixelShuffle(2)))
    """, "user_models_bad")
    out = tmp_path / "never.yaml"
    assert run(["import", source, "-o", str(out), "--input", "3x16x16"]) == 1
    err = capsys.readouterr().err
    assert "PixelShuffle" in err and "'1.1'" in err and "Traceback" not in err
    assert not out.exists()


def test_bad_sources(tmp_path, capsys):
    assert run(["import", "torchvision:resnet5O", "-o", str(tmp_path / "x.yaml")]) == 1
    assert "did you mean" in capsys.readouterr().err
    assert run(["import", "no_such_module_xyz:make", "-o", str(tmp_path / "x.yaml")]) == 1
    assert run(["import", "torchvision:resnet18"]) == 2  # -o is required
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("name", ["resnet18", "googlenet"])
def test_onnx_round_trip(name, tmp_path):
    """spec -> export --onnx -> import model.onnx -> a spec that builds and gives equal outputs.

    The ONNX graph is the eval-mode model: GoogLeNet's auxiliary heads (training only) and dropout
    are not in it, and the exporter may fold batch norms into the convolutions; the imported spec
    is what the graph computes, so its outputs equal the eval-mode source's.
    """
    torch.manual_seed(0)
    source = archc.build(name, input_shape=(3, 64, 64))
    for module in source.modules():  # non-trivial statistics, so folding them is visible
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5), module.bias.data.uniform_(-0.5, 0.5)
    archc.save(source, tmp_path / "w.pt")
    onnx_path, spec, weights = tmp_path / f"{name}.onnx", tmp_path / "back.yaml", tmp_path / "back.pt"
    assert run(["export", name, "--onnx", "--weights", str(tmp_path / "w.pt"), "--input", "3x64x64",
                "-o", str(onnx_path), "--no-check"]) == 0
    assert run(["import", str(onnx_path), "-o", str(spec), "--weights", str(weights)]) == 0
    back = archc.load(weights).eval()
    with torch.device("meta"):
        assert set(archc.build(spec).state_dict()) == set(back.state_dict())
    assert yaml.safe_load(spec.read_text())["input"] == [3, 64, 64]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(back(x), source.eval()(x), rtol=1e-4, atol=1e-4)
