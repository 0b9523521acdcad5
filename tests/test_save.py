"""Saved models: `archc build -o model.pt` / archc.save write a weights-only file that archc.load rebuilds."""

from __future__ import annotations

import pytest
import torch

import archc
from archc.cli import run
from conftest import SPECS

torch.set_num_threads(1)
LENET = SPECS / "lenet5.yaml"


def test_file_is_a_plain_weights_only_dict(tmp_path):
    model = archc.build(LENET, seed=0)
    archc.save(model, tmp_path / "m.pt")
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    assert set(data) == {"state_dict", "spec", "params", "input_shape", "archc_version"}
    assert data["archc_version"] == archc.__version__
    assert data["input_shape"] == [1, 28, 28] and data["params"] == {"num_classes": 10}
    assert data["spec"]["name"] == "lenet5"
    assert list(data["state_dict"]) == list(model.state_dict())
    assert all(torch.equal(data["state_dict"][k], v) for k, v in model.state_dict().items())


def test_load_rebuilds_the_same_module(tmp_path):
    model = archc.build(SPECS / "resnet18.yaml", seed=1).eval()
    archc.save(model, tmp_path / "m.pt")
    loaded = archc.load(tmp_path / "m.pt").eval()
    assert type(loaded).__name__ == type(model).__name__
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_cli_output_with_set_round_trips(tmp_path, capsys):
    assert run(["build", str(SPECS / "resnet18.yaml"), "--set", "num_classes=2", "--seed", "5",
                "-o", str(tmp_path / "m.pt")]) == 0
    loaded = archc.load(tmp_path / "m.pt")
    assert loaded.fc.out_features == 2
    assert torch.load(tmp_path / "m.pt", weights_only=True)["params"]["num_classes"] == 2
    expected = archc.build(SPECS / "resnet18.yaml", seed=5, num_classes=2)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in expected.state_dict().items())


def test_input_override_round_trips(tmp_path):
    model = archc.build(LENET, input_shape=[1, 32, 32], seed=0)
    archc.save(model, tmp_path / "m.pt")
    loaded = archc.load(tmp_path / "m.pt")
    assert loaded.classifier.fc1.in_features == model.classifier.fc1.in_features == 120 * 2 * 2  # C5 on 2x2 maps
    x = torch.randn(1, 1, 32, 32)
    assert torch.equal(loaded(x), model(x))


@pytest.fixture
def disk_fills_mid_save(monkeypatch):
    """torch.save writes half a file, then fails like a full disk."""
    def broken_save(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)


def test_failed_save_leaves_the_existing_file_and_no_temporary(tmp_path, disk_fills_mid_save):
    target = tmp_path / "m.pt"
    target.write_bytes(b"the previous model")
    with pytest.raises(OSError, match="No space left"):
        archc.save(archc.build(LENET, seed=0), target)
    assert target.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_cli_failed_save_exits_1_and_keeps_the_file(tmp_path, disk_fills_mid_save, capsys):
    target = tmp_path / "m.pt"
    target.write_bytes(b"the previous model")
    assert run(["build", str(LENET), "-o", str(target)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert target.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


@pytest.mark.parametrize("content, reason", [
    (b"not a torch file at all", "cannot read it"),
    (b"PK\x03\x04truncated zip", "cannot read it"),
    (b"", "cannot read it"),
])
def test_unreadable_file_is_a_spec_error_naming_it(tmp_path, content, reason):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(archc.SpecError, match=reason) as info:
        archc.load(path)
    assert str(info.value).startswith(f"{path}:1:1: error: not an archc model file")


def test_torch_file_of_something_else_is_a_spec_error(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(archc.SpecError, match="lacks the keys state_dict, spec"):
        archc.load(tmp_path / "plain.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(archc.SpecError, match="holds a list"):
        archc.load(tmp_path / "list.pt")


def test_weights_that_do_not_fit_the_spec_are_a_spec_error(tmp_path):
    archc.save(archc.build(LENET, seed=0), tmp_path / "m.pt")
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    data["state_dict"]["classifier.fc2.weight"] = torch.zeros(3, 84)
    torch.save(data, tmp_path / "m.pt")
    with pytest.raises(archc.SpecError, match="do not fit its spec.*classifier.fc2.weight"):
        archc.load(tmp_path / "m.pt")


def test_file_with_python_objects_is_refused_not_executed(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"state_dict": {}, "spec": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(archc.SpecError, match="cannot read it"):
        archc.load(tmp_path / "evil.pt")


def test_cli_export_with_a_corrupt_weights_file_exits_1_without_traceback(tmp_path, capsys):
    (tmp_path / "corrupt.pt").write_bytes(b"garbage")
    code = run(["export", str(LENET), "--onnx", "-o", str(tmp_path / "m.onnx"), "--weights",
                str(tmp_path / "corrupt.pt")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "corrupt.pt" in err
    assert not (tmp_path / "m.onnx").exists()
