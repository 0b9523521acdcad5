"""The published JSON Schema: the committed file is current, and plain `jsonschema` can use it."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

import archc

from archc.cli import run
from archc.schema import generate, schema
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
    """jsonschema-rs accepts a document exactly when jsonschema finds no error (it only skips the slow path)."""
    from archc.schema import _accepts, _validator

    checked = refused = 0
    for path, doc in _loadable_specs():
        valid = not any(True for _ in _validator().iter_errors(doc))
        assert _accepts()(doc) == valid, path
        checked, refused = checked + 1, refused + (not valid)
    assert checked > 60 and refused > 20
