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
