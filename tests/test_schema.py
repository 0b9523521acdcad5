"""The published JSON Schema: the committed file is current, and plain `jsonschema` can use it."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

import archc

from archc.cli import run
from archc.schema import generate, schema, validate
from conftest import ROOT, SPECS

BUNDLED = sorted(SPECS.glob("*.yaml")) + sorted((ROOT / "docs" / "examples").glob("*.yaml"))


def test_committed_schema_file_is_generated_from_the_registry():
    committed = json.loads((ROOT / "archc" / "spec.schema.json").read_text())
    assert committed == generate(), "archc/spec.schema.json is stale: run python3 -m archc.schema > archc/spec.schema.json"


def test_schema_command_prints_a_valid_draft_2020_12_schema(capsys):
    assert run(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_plain_jsonschema_accepts_every_bundled_spec(path):
    jsonschema.Draft202012Validator(schema()).validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("spec", [
    {"input": [3, 8, 8], "layers": [{"conv": {"out": 4}}]},  # conv needs a kernel
    {"input": [3, 8, 8], "layers": [{"conv": {"out": 4, "kernel": 3, "strid": 2}}]},
    {"input": [3, 8, 8], "layers": [{"relu": None, "tanh": None}]},  # two ops in one item
    {"input": [3, 8, 8], "layers": [{"gelu": {"approximate": "fast"}}]},
    {"input": [3, 8, 8], "layers": [{"for": "i", "in": 3}]},  # a loop needs 'do'
    {"input": [3, 8, 8]},  # input without layers
    {"input": [3, 8, 8], "layers": [], "typo": 1},
])
def test_plain_jsonschema_refuses_structural_errors(spec):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(spec)


def _loadable_specs():
    from archc.pipeline import load

    for path in BUNDLED + sorted((ROOT / "tests" / "bad_specs").rglob("*.yaml")):
        try:
            yield path, load(str(path))
        except archc.SpecError:
            continue


def test_fast_check_agrees_with_jsonschema_on_every_spec_and_bad_spec():
    """jsonschema-rs finds errors exactly where jsonschema does (it only finds them; jsonschema explains them)."""
    from archc.schema import _fast, _validator

    checked = refused = 0
    for path, doc in _loadable_specs():
        slow = {tuple(e.absolute_path) for e in _validator().iter_errors(doc)}
        fast = {tuple(e.instance_path) for e in _fast().iter_errors(doc)}
        assert fast or not slow, path  # jsonschema-rs finds every document jsonschema refuses (and NaN too)
        assert all(any(f[:len(p)] == p for f in fast) for p in slow), path  # each error lies under a found one
        checked, refused = checked + 1, refused + bool(slow)
    assert checked > 60 and refused > 20


def test_a_long_spec_with_one_error_is_explained_fast_at_its_true_index():
    """jsonschema alone takes seconds over thousands of layers; it sees only the failing ones."""
    import time

    from archc.pipeline import load

    text = "name: e\ninput: [3, 8, 8]\nlayers:\n" + "  - conv: {out: 8, kernel: 3, padding: 1}\n" * 3000
    text += "  - conv: {out: 8, kernal: 3}\n"
    doc = load(text)
    start = time.process_time()
    with pytest.raises(archc.SpecError) as info:
        validate(doc)
    assert time.process_time() - start < 0.5
    (diag,) = info.value.diagnostics
    assert diag.path == "layers[3000].conv.kernal" and diag.span.line == 3004 and "did you mean 'kernel'" in diag.hint
