"""User ops: the example plugin (examples/plugins/se.py) through every command and the API, proven
against torchvision.ops.SqueezeExcitation, and the ways loading a plugin can fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime
import pytest
import torch
import yaml
from torch import nn
from torchvision.ops import SqueezeExcitation
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.cli import run
from archc.emit.lowering import op_module
from archc.errors import SpecError
from archc.ops import REGISTRY
from conftest import PLUGINS, ROOT

SE = PLUGINS / "se.py"
NET = PLUGINS / "se_resnet.yaml"
pytestmark = pytest.mark.usefixtures("plugin_scope")


def se_op():
    archc.load_plugins([SE])
    return REGISTRY["se"]


@pytest.mark.parametrize("activation, scale, tv_activation, tv_scale", [
    ("relu", "sigmoid", nn.ReLU, nn.Sigmoid),
    ("silu", "hardsigmoid", nn.SiLU, nn.Hardsigmoid),
])
def test_the_se_op_is_torchvisions_squeeze_excitation(activation, scale, tv_activation, tv_scale):
    op = se_op()
    attrs = {"squeeze": 4, "activation": activation, "scale": scale}
    ours = op_module(op, attrs, [(16, 5, 5)])
    theirs = SqueezeExcitation(16, 4, activation=tv_activation, scale_activation=tv_scale)
    theirs.load_state_dict(ours.state_dict())  # strict: the same keys and shapes
    x = torch.randn(2, 16, 5, 5)
    assert torch.equal(ours(x), theirs(x))
    inferred = op.infer(attrs, [(16, 5, 5)])
    assert inferred.shape == tuple(theirs(x).shape[1:])
    assert inferred.params == sum(p.numel() for p in theirs.parameters())
    with FlopCounterMode(display=False) as flops:
        theirs(x[:1])
    assert 2 * inferred.macs == flops.get_total_flops()


def test_the_se_op_refuses_a_squeeze_wider_than_its_input(write_spec, capsys):
    spec = write_spec("plugins: [se]\ninput: [4, 8, 8]\nlayers:\n  - se: {squeeze: 8}\n")
    assert run(["--plugin", str(SE), "shapes", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:4:5: error: se '0' squeezes 4 channels to 8" in err and "squeeze <= in_channels" in err


def reference_counts():
    """Parameter count of the example net, from torchvision's SqueezeExcitation and torch layers."""
    total, width, channels = 3 * 16 * 9 + 32, 16, 16
    for out, stride in ((width, 1), (width, 1), (2 * width, 2), (2 * width, 1)):
        total += channels * out * 9 + out * out * 9 + 4 * out
        total += sum(p.numel() for p in SqueezeExcitation(out, max(1, out // 4)).parameters())
        if stride != 1 or channels != out:
            total += channels * out + 2 * out
        channels = out
    return total + channels * 10 + 10


def test_cli_shapes_build_check_and_save(tmp_path, capsys):
    assert run(["--plugin", str(SE), "shapes", "--json", str(NET)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["params"] == reference_counts()
    assert [layer["op"] for layer in report["layers"] if layer["op"].startswith("se ")] == \
        ["se 4", "se 4", "se 8", "se 8"]
    saved = tmp_path / "se.pt"
    assert run(["--plugin", str(SE), "build", "--check", str(NET), "-o", str(saved), "--seed", "0"]) == 0
    assert "check: the runtime shapes of all" in capsys.readouterr().out
    model = archc.load(saved, plugins=[SE])
    assert torch.equal(model.state_dict()["layer2.0.se.fc1.weight"], archc.build(NET, seed=0).state_dict()[
        "layer2.0.se.fc1.weight"])


def test_cli_emit_python_runs_standalone_with_the_plugin_on_the_path(tmp_path):
    """A real process: the global --plugin option, then the emitted file imported beside se.py."""
    out = tmp_path / "se_resnet.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(PLUGINS)])}
    cli = [sys.executable, "-c", "from archc.cli import entry; entry()", "--plugin", str(SE)]
    done = subprocess.run([*cli, "build", "--emit", "python", str(NET), "-o", str(out)], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "from se import SqueezeExcitation" in out.read_text() and "; needs torch and se." in out.read_text()
    weights = tmp_path / "w.pt"
    torch.save(archc.build(NET, plugins=[SE], seed=0).state_dict(), weights)
    probe = textwrap.dedent(f"""
        import torch, se_resnet
        model = se_resnet.SeResnet()
        model.load_state_dict(torch.load({str(weights)!r}))
        print(type(model.layer1[0].se).__module__, tuple(model.eval()(torch.zeros(2, 3, 32, 32)).shape))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={**env, "PYTHONPATH": os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["se", "(2,", "10)"]


def test_cli_graph_draws_the_se_layers(tmp_path):
    out = tmp_path / "se.dot"
    assert run(["--plugin", str(SE), "graph", str(NET), "-o", str(out)]) == 0
    dot = out.read_text()
    assert dot.count("<b>se 4</b>") == 2 and dot.count("<b>se 8</b>") == 2
    assert 'fillcolor="#d0e0e3"' in dot


def test_cli_export_onnx_matches_onnx_runtime(tmp_path):
    out = tmp_path / "se.onnx"
    assert run(["--plugin", str(SE), "export", "--onnx", str(NET), "-o", str(out)]) == 0
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 32, 32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = archc.build(NET, seed=0).eval()(x).numpy()  # export's default seed is 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_python_api_takes_plugins(tmp_path):
    graph = archc.analyze(NET, plugins=[SE])
    assert sum(n.op == "se" for n in graph.nodes) == 4
    model = archc.build(NET, plugins=[SE], seed=0)
    assert sum(isinstance(m, torch.nn.Module) and type(m).__name__ == "SqueezeExcitation"
               for m in model.modules()) == 4
    assert archc.validate(NET, plugins=[SE], width=8).total_params < graph.total_params
    assert "from se import SqueezeExcitation" in archc.emit_python(NET, plugins=[SE])
    assert "se 8" in archc.graph(NET, plugins=[SE]).source
    report = archc.export_onnx(NET, tmp_path / "se.onnx", plugins=[SE])
    assert report.parity and all(p.ok for p in report.parity)


def test_init_rules_reach_the_se_convs():
    model = archc.build(NET, plugins=[SE], seed=0)
    weight = model.layer2[0].se.fc1.weight  # kaiming_normal(fan_out): std sqrt(2 / 8) = 0.5, not torch's ~0.1
    assert 0.35 < weight.std().item() < 0.65
    source = archc.emit_python(NET)
    assert "isinstance(module, SqueezeExcitation)" in source and "module.fc1.weight" in source


# -- failures -------------------------------------------------------------------------------------

def test_a_spec_naming_a_plugin_not_given_is_a_located_error(capsys):
    assert run(["shapes", str(NET)]) == 1
    err = capsys.readouterr().err
    line = next(k for k, text in enumerate(NET.read_text().splitlines(), 1) if text.startswith("plugins:"))
    assert f"{NET}:{line}:" in err and "the spec needs the plugin 'se', which was not given" in err
    assert "archc --plugin path/to/se.py" in err and "plugins=['path/to/se.py']" in err
    assert "Traceback" not in err
    with pytest.raises(SpecError, match="needs the plugin 'se'"):
        archc.analyze(NET)


def plugin_file(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text("from archc.op import Attr, Example, Function, Inferred, Module, Op, nn\n" + textwrap.dedent(body))
    return path


BAD_RULE = """
def infer(attrs, inputs):
    return Inferred(inputs[0], params=1 // 0)

OPS = [Op("boom", "an op whose shape rule has a bug", infer, lower=Module(lambda a, i: nn("Identity")))]
"""


@pytest.mark.parametrize("debug", [False, True])
def test_a_plugin_whose_shape_rule_raises_is_reported_as_the_plugins_bug(tmp_path, write_spec, capsys, debug):
    plugin = plugin_file(tmp_path, "boom_ops", BAD_RULE)
    spec = write_spec("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n  - boom\n")
    assert run([*(["--debug"] if debug else []), "--plugin", str(plugin), "shapes", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:4:5: error: plugin bug: the shape rule of op 'boom' from {plugin} raised ZeroDivisionError" in err
    assert ("Traceback" in err) is debug
    if debug:
        assert "1 // 0" in err  # the plugin's own line


def test_a_duplicate_op_name_is_refused_and_nothing_of_that_plugin_is_registered(tmp_path, capsys):
    plugin = plugin_file(tmp_path, "dup_ops", """
        OPS = [Op("fine", "a new op", lambda a, i: Inferred(i[0]), lower=Module(lambda a, i: nn("Identity"))),
               Op("conv", "a second conv", lambda a, i: Inferred(i[0]), lower=Module(lambda a, i: nn("Identity")))]
    """)
    assert run(["--plugin", str(plugin), "schema"]) == 1
    err = capsys.readouterr().err
    assert f"plugin '{plugin}': the op 'conv' is defined twice (first by archc's built-in ops)" in err
    assert "give the op another name" in err and "Traceback" not in err
    assert "fine" not in REGISTRY
    other = plugin_file(tmp_path, "other_ops", """
        OPS = [Op("se", "another se", lambda a, i: Inferred(i[0]), lower=Module(lambda a, i: nn("Identity")))]
    """)
    assert run(["--plugin", str(SE), "--plugin", str(other), "schema"]) == 1
    assert f"the op 'se' is defined twice (first by {SE})" in capsys.readouterr().err


def test_a_plugin_that_raises_on_import_is_located_at_its_line(tmp_path, capsys):
    plugin = plugin_file(tmp_path, "broken_ops", """
        import math
        raise RuntimeError("this plugin is broken")
    """)
    assert run(["--plugin", str(plugin), "schema"]) == 1
    err = capsys.readouterr().err
    assert f"{plugin}:4:1: error: plugin '{plugin}' failed to load: RuntimeError: this plugin is broken" in err
    assert "Traceback" not in err
    assert "broken_ops" not in sys.modules


@pytest.mark.parametrize("body, problem", [
    ('OPS = [Op("m", "d", lambda a, i: Inferred(i[0]), lower=Module(lambda a, i: nn("Identity")), merge=True)]',
     "is a merge, and merges lower to a Function"),
    ('OPS = [Op("m", "d", lambda a, i: Inferred(i[0]), {"_k": Attr("int", 1)}, '
     'lower=Function(lambda a, args: args[0]), merge=True)]', "is a merge with an attribute named like a reserved"),
    ("OPS = None", "has no list OPS of archc ops"),
])
def test_a_plugin_whose_ops_archc_cannot_use_is_refused_when_loaded(tmp_path, capsys, body, problem):
    plugin = plugin_file(tmp_path, "odd_ops", body)
    assert run(["--plugin", str(plugin), "schema"]) == 1
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


def test_a_missing_plugin_file_or_entry_point(capsys):
    assert run(["--plugin", "no/such/ops.py", "schema"]) == 1
    assert "plugin file 'no/such/ops.py' does not exist" in capsys.readouterr().err
    assert run(["--plugin", "no_such_entry_point", "schema"]) == 1
    assert "no plugin file or installed 'archc.ops' entry point named 'no_such_entry_point'" in \
        capsys.readouterr().err


def test_the_example_net_is_what_the_readme_shows():
    text = (PLUGINS / "README.md").read_text()
    assert "archc --plugin examples/plugins/se.py shapes examples/plugins/se_resnet.yaml" in text
    assert yaml.safe_load(NET.read_text())["plugins"] == ["se"]


def test_a_function_op_that_is_no_merge_makes_no_module(tmp_path):
    plugin = plugin_file(tmp_path, "fn_ops", """
        from archc.op import Attr, Example, Function, Inferred, Op

        OPS = [Op("double", "x * factor", lambda a, i: Inferred(i[0]), {"factor": Attr("int", 2)},
                  lower=Function(lambda a, args: f"{args[0]} * {a['factor']}"), example=Example({}, [(3, 4, 4)]))]
    """)
    text = "input: [3, 4, 4]\nlayers: [conv: {out: 2, kernel: 1}, double: {factor: 3}, relu]\n"
    graph = archc.analyze(text, plugins=[str(plugin)])
    assert [n.module for n in graph.nodes] == ["0", None, "1"]
    model = archc.build(text, seed=0).eval()
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(model(x), torch.relu(model[0](x) * 3))
