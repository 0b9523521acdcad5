"""`init:` rules by module path or glob, beside the rules by op kind: resolved into the IR, honoured by
build and by the emitted Python source, and refused with a location when they select nothing."""

from __future__ import annotations

import pytest
import torch

import archc
from archc.errors import SpecError

SPEC = """name: t
input: [3, 8, 8]
init:
  conv: {weight: {kaiming_uniform: {nonlinearity: relu}}, bias: 0}
  classifier.final: {weight: {normal: {mean: 0.0, std: 0.01}}, bias: 0.5}
  "features.*": {bias: 2}
layers:
  features:
    - conv: {out: 4, kernel: 3, padding: 1}
    - relu
    - conv: {out: 4, kernel: 3, padding: 1}
  classifier:
    - conv: {name: final, out: 10, kernel: 1}
    - adaptive_avgpool: {out: 1}
    - flatten
"""


def test_path_rules_override_kind_rules_in_order():
    model = archc.build(SPEC, seed=0)
    assert torch.all(model.features[0].bias == 2) and torch.all(model.features[2].bias == 2)
    final = model.classifier.final
    assert torch.all(final.bias == 0.5)
    assert abs(final.weight.std().item() - 0.01) < 0.004  # normal(0, 0.01), not kaiming's ~0.8
    assert model.features[0].weight.std().item() > 0.1


def test_the_emitted_source_applies_the_same_rules():
    namespace: dict = {"__name__": "emitted"}
    exec(compile(archc.emit_python(SPEC), "<emitted>", "exec"), namespace)  # noqa: S102
    model = namespace["T"]()
    assert torch.all(model.features[0].bias == 2) and torch.all(model.classifier.final.bias == 0.5)
    assert abs(model.classifier.final.weight.std().item() - 0.01) < 0.004


@pytest.mark.parametrize("key,rule,message", [
    ("classifier.fnal", "{bias: 0}", "neither an op kind nor the path"),
    ("relu", "{weight: 1}", "has no parameters init rules can set"),
    ("features.0", "{wieght: 1}", "has no tensor 'wieght'"),
])
def test_rules_that_select_nothing_are_located(key, rule, message):
    text = SPEC.replace("  \"features.*\": {bias: 2}\n", f"  {key}: {rule}\n")
    with pytest.raises(SpecError) as info:
        archc.analyze(text)
    (diag,) = info.value.diagnostics
    assert message in diag.message and diag.span.line == 6
    if key == "classifier.fnal":
        assert "classifier.final" in diag.hint


MIXED = """name: mixed
input: [4, 8, 8]
init:
  window_attention: {qkv.bias: 0.5, cpb_mlp.0.bias: 2}
layers:
  to_channels_last: {permute: {dims: [0, 2, 3, 1]}}
  v1: {window_attention: {heads: 2, window: 4}}
  v2: {window_attention: {heads: 2, window: 4, version: 2}}
"""


def test_a_kind_rule_sets_the_tensors_each_layer_has_in_build_and_emitted_source():
    """Swin v1 layers have no bias MLP: the rule for it sets the v2 layer's and passes the v1 layer by."""
    namespace: dict = {"__name__": "emitted"}
    exec(compile(archc.emit_python(MIXED), "<emitted>", "exec"), namespace)  # noqa: S102
    for model in (archc.build(MIXED, seed=0), namespace["Mixed"]()):
        assert torch.all(model.v1.qkv.bias == 0.5) and torch.all(model.v2.qkv.bias == 0.5)
        assert torch.all(model.v2.cpb_mlp[0].bias == 2) and not hasattr(model.v1, "cpb_mlp")


@pytest.mark.parametrize("rule, message", [
    ("v1: {cpb_mlp.0.bias: 0}", "'v1' has no tensor 'cpb_mlp.0.bias'"),
    ("window_attention: {qkv.wieght: 0}", "'window_attention' has no tensor 'qkv.wieght'"),
    ("window_attention: {proj.bias: xavier_uniform}", "xavier_uniform cannot initialise 'proj.bias'"),
])
def test_rules_for_a_composite_layers_tensors_are_checked_and_located(rule, message):
    text = MIXED.replace("  window_attention: {qkv.bias: 0.5, cpb_mlp.0.bias: 2}\n", f"  {rule}\n")
    with pytest.raises(SpecError) as info:
        archc.analyze(text)
    (diag,) = info.value.diagnostics
    assert message in diag.message and diag.span.line == 4
