"""What the docs and messages say about ops is the registry: the op table of docs/spec-language.md,
the API reference of docs/ops.md, and the list of ops in the "unknown op" error."""

from __future__ import annotations

import dataclasses
import re

import pytest

import archc
from archc.errors import SpecError
from archc.ops import REGISTRY, api, base
from conftest import PLUGINS, ROOT

LANGUAGE = (ROOT / "docs" / "spec-language.md").read_text()
OPS_DOC = (ROOT / "docs" / "ops.md").read_text()
TABLE = LANGUAGE.split("\n## Ops\n", 1)[1].split("\n## ", 1)[0]
ROWS = [line.split(" | ") for line in TABLE.splitlines() if line.startswith("| `")]
BUILTIN = sorted(name for name, op in REGISTRY.items() if not op.plugin)


def documented_ops() -> dict[str, str]:
    """op name -> the attributes cell of its row."""
    rows = {}
    for cells in ROWS:
        for name in re.findall(r"`(\w+)`", cells[0]):
            assert name not in rows, f"'{name}' has two rows in the op table of docs/spec-language.md"
            rows[name] = cells[2]
    return rows


def test_the_op_table_lists_exactly_the_registered_ops():
    rows = documented_ops()
    missing = [name for name in BUILTIN if name not in rows]
    assert not missing, f"add a row for {missing} to the op table of docs/spec-language.md"
    assert sorted(rows) == BUILTIN, f"the op table names ops archc does not have: {sorted(set(rows) - set(BUILTIN))}"


def _written(value: str):
    """A default as the table writes it, as a Python value."""
    if value in ("true", "false"):
        return value == "true"
    try:
        return float(value)
    except ValueError:
        return value


@pytest.mark.parametrize("name", BUILTIN)
def test_each_row_names_every_attribute_with_its_default(name):
    rows = documented_ops()
    if name not in rows:
        pytest.fail(f"add a row for '{name}' to the op table of docs/spec-language.md")
    cell = re.sub(r"\([^)]*\)", "", rows[name])  # "(`p`, `same`, ...)": values, not attributes
    written = dict(re.findall(r"`(\w+)`(?: = ([^\s,]+))?", cell))
    for key, attr in REGISTRY[name].attrs.items():
        assert key in written, f"the op table row of '{name}' does not name its attribute '{key}'"
        if attr.required:
            assert not written[key], f"'{name}.{key}' is required but the op table gives it a default"
        elif attr.default is not None:  # None: computed from other attributes, written in words
            shown = _written(written[key])
            assert shown == attr.default, f"the op table says {name}.{key} = {written[key]}, archc: {attr.default}"
    extra = set(written) - set(REGISTRY[name].attrs)
    assert not extra, f"the op table row of '{name}' names attributes it does not have: {sorted(extra)}"


API_VALUES = [api.Op, api.Example, api.Call, api.Module, api.Function, api.Init, api.Draw, base.Attr, base.Inferred]


@pytest.mark.parametrize("cls", API_VALUES, ids=lambda c: c.__name__)
def test_docs_ops_md_documents_every_field_of_the_op_api(cls):
    section = OPS_DOC.split(f"### `{cls.__name__}", 1)
    assert len(section) == 2, f"docs/ops.md has no '### `{cls.__name__}...`' section"
    text = section[1].split("\n### ", 1)[0]
    for field in dataclasses.fields(cls):
        assert f"`{field.name}`" in text, f"docs/ops.md does not describe {cls.__name__}.{field.name}"


def test_docs_ops_md_documents_every_attribute_kind():
    text = OPS_DOC.split("### `Attr", 1)[1].split("\n### ", 1)[0]
    for kind in base._COERCE:
        assert f"`{kind}`" in text, f"docs/ops.md does not describe the attribute kind '{kind}'"


def test_docs_link_to_ops_md():
    assert "docs/ops.md" in (ROOT / "README.md").read_text()
    assert "(ops.md)" in LANGUAGE


def _unknown_op_hint() -> str:
    with pytest.raises(SpecError) as caught:
        archc.analyze({"input": [3, 8, 8], "layers": ["qqqq"]})
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message == "unknown op or block 'qqqq'"
    return diagnostic.hint


def test_the_unknown_op_message_lists_every_registered_op():
    assert _unknown_op_hint() == "ops: " + ", ".join(BUILTIN)


def test_the_unknown_op_message_lists_plugin_ops_once_loaded(plugin_scope):
    archc.load_plugins([PLUGINS / "se.py"])
    listed = _unknown_op_hint().removeprefix("ops: ").split(", ")
    assert "se" in listed and sorted(listed) == sorted(REGISTRY)
