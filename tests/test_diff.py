"""`archc diff`: checked against torchvision's own models (which layers differ, which weights load)."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from archc.cli import run


def _state_shapes(model) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _diff_json(capsys, *args) -> tuple[int, dict]:
    code = run(["diff", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_alexnet_finetune_changes_exactly_the_last_classifier_layer(capsys):
    with torch.device("meta"):
        ours, theirs = torchvision.models.alexnet(), torchvision.models.alexnet()
        theirs.classifier[6] = torch.nn.Linear(4096, 2)  # seed 000's fine-tuning head
    a, b = _state_shapes(ours), _state_shapes(theirs)
    differing = {k.rsplit(".", 1)[0] for k in a if a[k] != b[k]}
    code, result = _diff_json(capsys, "alexnet", "alexnet_finetune")
    assert code == 1 and not result["equal"]
    changed = [c for c in result["layers"] if c["kind"] != "reshaped"]
    assert {c["path"] for c in changed} == differing == {"classifier.6"}
    assert changed[0]["kind"] == "changed" and changed[0]["fields"]["out"] == {"a": 1000, "b": 2}
    reshaped = [c["path"] for c in result["layers"] if c["kind"] == "reshaped"]
    assert reshaped and all(p.startswith("features.") for p in reshaped)  # 224 -> 227 input: only sizes
    state = result["state_dict"]
    assert {m["key"] for m in state["mismatched"]} == {k for k in a if a[k] != b[k]}
    assert set(state["loadable"]) == {k for k in a if a[k] == b[k]}
    assert not state["missing"] and not state["unexpected"]
    human = run(["diff", "alexnet", "alexnet_finetune"])
    out = capsys.readouterr().out
    assert human == 1 and "~ classifier.6" in out and "only see another input size" in out


def test_set_b_variant_of_the_same_spec(capsys):
    with torch.device("meta"):
        a = _state_shapes(torchvision.models.resnet50())
        b = _state_shapes(torchvision.models.resnet50(num_classes=10))
    code, result = _diff_json(capsys, "resnet50", "resnet50", "--set-b", "num_classes=10")
    assert code == 1
    assert [(c["path"], c["kind"]) for c in result["layers"]] == [("fc", "changed")]
    mismatched = {m["key"]: (tuple(m["a"]), tuple(m["b"])) for m in result["state_dict"]["mismatched"]}
    assert mismatched == {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    delta = sum(torch.Size(s).numel() for s in b.values()) - sum(torch.Size(s).numel() for s in a.values())
    assert result["totals"]["params"]["delta"] == delta


def test_a_spec_against_itself_is_equal(capsys):
    code, result = _diff_json(capsys, "resnet18", "resnet18")
    assert code == 0 and result["equal"] and result["layers"] == []
    assert result["totals"]["params"]["delta"] == 0
    assert result["state_dict"]["missing"] == result["state_dict"]["unexpected"] == []
    with torch.device("meta"):
        assert sorted(result["state_dict"]["loadable"]) == sorted(torchvision.models.resnet18().state_dict())
    assert run(["diff", "resnet18", "resnet18", "--set", "num_classes=10"]) == 0
    assert "no differences" in capsys.readouterr().out


def test_json_keys(capsys):
    _, result = _diff_json(capsys, "alexnet", "alexnet_finetune")
    assert set(result) == {"equal", "a", "b", "input", "totals", "layers", "state_dict"}
    assert set(result["totals"]) == {"params", "macs"} and set(result["totals"]["params"]) == {"a", "b", "delta"}
    assert set(result["layers"][0]) == {"path", "kind", "op", "fields"}
    assert set(result["state_dict"]) == {"loadable", "missing", "unexpected", "mismatched"}
    assert result["input"] == {"a": [3, 224, 224], "b": [3, 227, 227]}


@pytest.mark.parametrize("args", [
    ["resnet18"],                                           # B missing
    ["resnet18", "resnet18", "--set-b", "num_classes"],      # not name=value
    ["resnet18", "resnet18", "--input", "3xx"],             # bad shape
    ["resnet18", "resnet18", "--colour"],                   # unknown option
])
def test_usage_errors_exit_2(args, capsys):
    assert run(["diff", *args]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_spec_errors_exit_1(capsys):
    assert run(["diff", "resnet18", "no_such_spec"]) == 1
    assert "no such file" in capsys.readouterr().err
