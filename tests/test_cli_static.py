"""`archc validate` and `archc shapes` end to end through the entry point, and the no-torch static path."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from archc.cli import run
from conftest import ROOT, SPECS

GOOD = "name: good\ninput: [3, 8, 8]\nlayers: [conv: {out: 4, kernel: 3}, relu]\n"
BAD = "name: bad\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 9}\n  - relux\n"


def archc(capsys, *args):
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@functools.lru_cache(maxsize=1)
def resnet18_torch():
    """Parameter count, MACs and output shapes of torchvision's resnet18 (meta device: no memory)."""
    with torch.device("meta"):
        model = torchvision.models.resnet18(num_classes=2).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 224, 224))
        layer4 = model.layer4(model.layer3(model.layer2(model.layer1(model.maxpool(model.conv1(
            torch.empty(1, 3, 32, 32)))))))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2, tuple(layer4.shape[1:])


# -- validate ------------------------------------------------------------------------------------

def test_validate_reports_every_file_and_fails_if_one_is_bad(capsys, write_spec):
    good, bad = write_spec(GOOD, "good.yaml"), write_spec(BAD, "bad.yaml")
    code, out, err = archc(capsys, "validate", good, bad, SPECS / "resnet18.yaml")
    assert code == 1
    assert f"ok  {good}: good, 2 layers" in out and "ok  " + str(SPECS / "resnet18.yaml") in out
    assert f"{bad}:4:5: error: conv '0' kernel 9 (with dilation) is larger than the padded input 8" in err
    assert f"{bad}:5:5: error: unknown op or block 'relux'" in err
    assert "1 of 3 file(s) failed with 2 error(s)" in err and "Traceback" not in err


def test_validate_all_good_exits_0(capsys):
    code, out, err = archc(capsys, "validate", *sorted(SPECS.glob("*.yaml")))
    assert (code, err) == (0, "") and out.count("ok  ") == len(list(SPECS.glob("*.yaml")))


def test_validate_json(capsys, write_spec):
    good, bad = write_spec(GOOD, "good.yaml"), write_spec(BAD, "bad.yaml")
    code, out, _ = archc(capsys, "validate", "--json", good, bad)
    result = json.loads(out)
    assert code == 1 and [r["ok"] for r in result] == [True, False]
    assert result[0]["params"] == 3 * 4 * 9 + 4
    first = result[1]["errors"][0]
    assert (first["file"], first["line"], first["col"], first["path"]) == (str(bad), 4, 5, "layers[0]")
    assert set(first) == {"message", "file", "line", "col", "path", "hint", "notes"}


@pytest.mark.parametrize("args, message", [
    (["validate"], "Missing argument"),
    (["shapes", SPECS / "resnet18.yaml", "--input", "3xax2"], "is not a shape like 3x224x224"),
    (["shapes", SPECS / "resnet18.yaml", "--set", "num_classes"], "is not of the form name=value"),
    (["shapes", SPECS / "resnet18.yaml", "--depth", "-1"], "--depth"),
    (["shapes", SPECS / "resnet18.yaml", "--bogus"], "No such option"),
])
def test_usage_errors_exit_2(capsys, args, message):
    code, _, err = archc(capsys, *args)
    assert code == 2 and message in err


def test_the_installed_entry_point_maps_exit_codes(write_spec):
    bad = write_spec(BAD)
    entry = [sys.executable, "-c", "from archc.cli import entry; entry()"]
    spec_error = subprocess.run([*entry, "validate", str(bad)], capture_output=True, text=True)
    usage = subprocess.run([*entry, "shapes"], capture_output=True, text=True)
    assert (spec_error.returncode, usage.returncode) == (1, 2)
    assert "Traceback" not in spec_error.stderr + usage.stderr


# -- shapes --------------------------------------------------------------------------------------

def test_shapes_table_totals_match_torchvision(capsys):
    params, macs, _ = resnet18_torch()
    code, out, _ = archc(capsys, "shapes", SPECS / "resnet18.yaml", "--set", "num_classes=2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "resnet18: input [N, 3, 224, 224]"
    assert lines[2].split() == ["layer", "op", "kernel", "input", "shape", "output", "shape", "params", "%", "params",
                                "MACs"]
    assert any(line.split()[:2] == ["layer1.0.conv1", "conv"] for line in lines)
    assert any(line.startswith("fc ") and "[N, 2]" in line for line in lines)
    assert f"params: {params:,}" in out and f"MACs:   {macs:,}" in out and "FLOPs = 2 x MACs" in out


def test_shapes_json_structure(capsys):
    params, macs, _ = resnet18_torch()
    code, out, _ = archc(capsys, "shapes", SPECS / "resnet18.yaml", "--json", "--set", "num_classes=2")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"name", "input", "params", "freeze", "macs_convention", "layers", "outputs", "totals"}
    assert data["params"]["num_classes"] == 2 and data["input"] == [3, 224, 224]
    assert set(data["layers"][0]) == {"name", "op", "kernel", "input_shapes", "shape", "params", "params_percent",
                                      "trainable_params", "macs", "activations"}
    assert data["outputs"] == [{"name": "output", "node": "fc", "shape": [2], "train_only": False}]
    assert (data["totals"]["params"], data["totals"]["macs"]) == (params, macs)
    assert sum(row["params"] for row in data["layers"]) == params


def test_shapes_depth_collapses_levels(capsys):
    _, out, _ = archc(capsys, "shapes", SPECS / "resnet18.yaml", "--json", "--depth", "1")
    rows = json.loads(out)["layers"]
    assert [r["name"] for r in rows] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                                         "avgpool", "flatten", "fc"]
    _, out, _ = archc(capsys, "shapes", SPECS / "resnet18.yaml", "--json", "--depth", "2")
    names = [r["name"] for r in json.loads(out)["layers"]]
    assert "layer2.0" in names and "layer2.0.conv1" not in names


def test_shapes_input_override(capsys):
    *_, layer4 = resnet18_torch()
    code, out, _ = archc(capsys, "shapes", SPECS / "resnet18.yaml", "--input", "3x32x32", "--json")
    data = json.loads(out)
    assert code == 0 and data["input"] == [3, 32, 32]
    assert next(r for r in data["layers"] if r["name"] == "layer4.1.relu")["shape"] == list(layer4)


def test_shapes_bad_override_is_a_spec_error(capsys):
    code, _, err = archc(capsys, "shapes", SPECS / "resnet18.yaml", "--set", "num_classes=two")
    assert code == 1 and "param 'num_classes': expected int, found 'two'" in err


# -- the static path never imports torch ---------------------------------------------------------

def test_analyze_does_not_import_torch():
    code = "import sys, archc; archc.analyze(sys.argv[1]); print(sorted(m for m in sys.modules if m.startswith('torch')))"
    result = subprocess.run([sys.executable, "-c", code, str(SPECS / "resnet50.yaml")], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_shapes_command_does_not_import_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "from archc.cli import entry; entry()",
                             "shapes", str(SPECS / "resnet50.yaml")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")]
    assert "archc.pipeline" in imported
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]
