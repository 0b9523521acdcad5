"""The bundled zoo by name: resolution from any folder, a real file winning, did-you-mean, `archc list`,
and the specs shipped inside a built wheel."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
import torchvision

import archc
from archc import zoo
from archc.cli import run
from archc.errors import SpecError
from conftest import ROOT, SPECS


def test_names_are_the_specs_folder():
    assert zoo.names() == sorted(p.stem for p in SPECS.glob("*.yaml"))
    assert zoo.path_of("resnet18") == zoo.path_of("resnet18.yaml") == SPECS / "resnet18.yaml"
    assert zoo.path_of("specs/resnet18") is None and zoo.path_of("nope") is None


def test_a_name_works_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(["shapes", "resnet18", "--json", "--set", "num_classes=7"]) == 0
    report = json.loads(capsys.readouterr().out)
    reference = torchvision.models.resnet18(num_classes=7)
    assert report["totals"]["params"] == sum(p.numel() for p in reference.parameters())
    with torch.device("meta"):
        model = archc.build("lenet5")
    assert list(model.state_dict()) == list(archc.build(str(SPECS / "lenet5.yaml")).state_dict())


def test_a_real_file_wins_over_a_bundled_name(tmp_path, monkeypatch, write_spec):
    monkeypatch.chdir(tmp_path)
    write_spec("name: mine\ninput: [4]\nlayers: [linear: {out: 2}]\n", "resnet18")  # no suffix: same text as the name
    assert archc.analyze("resnet18").name == "mine"
    assert archc.analyze("resnet18.yaml").name == "resnet18"  # no file of that name here: the bundled one


@pytest.mark.parametrize("given, suggestion", [("resnt18", "'resnet18'"), ("vgg16bn", "'vgg16_bn'"),
                                               ("specs/lenet55.yaml", "'specs/lenet5.yaml'")])
def test_an_unknown_name_suggests_files_and_bundled_specs(given, suggestion, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SpecError) as info:
        archc.analyze(given)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.message == f"no such file: '{given}'"
    assert diagnostic.hint.startswith("did you mean") and suggestion in diagnostic.hint


def test_nothing_close_points_at_archc_list(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(["validate", "qqqqqqq"]) == 1
    err = capsys.readouterr().err
    assert "error: no such file: 'qqqqqqq'" in err and "`archc list` shows them" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["list", "zoo"])
def test_list_shows_every_bundled_spec_with_its_totals(command, capsys):
    assert run([command, "--json"]) == 0
    specs = {s["name"]: s for s in json.loads(capsys.readouterr().out)["specs"]}
    assert set(specs) == set(zoo.names())
    reference = torchvision.models.vgg11_bn()
    assert specs["vgg11_bn"]["params"] == sum(p.numel() for p in reference.parameters())
    assert specs["vgg11_bn"]["input"] == [3, 224, 224]
    assert run([command]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.startswith("resnet50 "))
    resnet50 = torchvision.models.resnet50()
    assert row[:3] == ["resnet50", "3x224x224", f"{sum(p.numel() for p in resnet50.parameters()):,}"]
    assert out.isascii()


def test_the_wheel_ships_the_zoo(tmp_path):
    """A wheel built from the source tree holds specs/ as archc/specs (no network: no build isolation)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("archc", "specs"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("archc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"archc/specs/{p.name}" for p in SPECS.glob("*.yaml")} <= names
    assert "archc/zoo.py" in names and "archc/spec.schema.json" in names
