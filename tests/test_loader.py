"""The positioned YAML loader: spans, safety limits, `extends:`, `imports:` and cycles."""

from __future__ import annotations

import pytest

import archc
from archc import limits
from archc.errors import SpecError, Span
from archc.loader import load_spec, parse_yaml
from conftest import SPECS

TEXT = """\
name: tiny
layers:
  - conv: {out: 4, kernel: 3}
  - relu
"""


def only_error(exc: SpecError):
    assert len(exc.diagnostics) == 1, str(exc)
    return exc.diagnostics[0]


def test_keys_values_and_items_know_their_line_and_column():
    doc = parse_yaml(TEXT, "f.yaml")
    assert doc.span_of("name", key_only=True) == Span("f.yaml", 1, 1, 4)
    assert doc.span_of("name") == Span("f.yaml", 1, 7, 4)
    layers = doc["layers"]
    assert [(s.line, s.col) for s in layers.item_spans] == [(3, 5), (4, 5)]
    conv = layers[0]["conv"]
    assert (conv.span_of("kernel").line, conv.span_of("kernel").col) == (3, 28)
    assert (conv.span_of("out", key_only=True).line, conv.span_of("out", key_only=True).col) == (3, 12)


def test_a_missing_key_falls_back_to_its_mapping():
    doc = parse_yaml(TEXT, "f.yaml")
    assert doc["layers"][0].span_of("absent") == doc["layers"][0].span


def test_duplicate_keys_are_refused_with_both_places():
    with pytest.raises(SpecError) as info:
        parse_yaml("name: a\ninput: [3, 8, 8]\nname: b\n", "f.yaml")
    diag = only_error(info.value)
    assert (diag.message, str(diag.span)) == ("duplicate key 'name'", "f.yaml:3:1")
    assert "already defined at line 1" in diag.hint


@pytest.mark.parametrize("text, message, where, hint", [
    ("a: !!python/object/apply:os.system [ls]\n", "the YAML tag '!!python/object/apply:os.system' is not allowed",
     "f.yaml:1:4", "safely"),
    ("a:\n\tb: 1\n", "invalid YAML", "f.yaml:2:1", "spaces, not tabs"),
    ("a: [1, 2\n", "invalid YAML", "f.yaml:2:1", "bracket is not closed"),
])
def test_unsafe_or_broken_yaml_is_a_located_error(text, message, where, hint):
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "f.yaml")
    diag = only_error(info.value)
    assert message in diag.message and str(diag.span) == where and hint in diag.hint


def test_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 9)]
    with pytest.raises(SpecError, match=f"aliases expand it to more than {limits.MAX_YAML_NODES:,} YAML nodes"):
        parse_yaml("\n".join(lines) + "\n", "bomb.yaml")


def test_a_huge_document_without_aliases_is_refused_while_composing_and_not_called_a_bomb(monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_NODES", 1000)  # the real limit takes a second to reach
    text = "a: [" + ", ".join(["0"] * 1000) + "]\n"
    with pytest.raises(SpecError, match="the document has more than 1,000 YAML nodes") as info:
        parse_yaml(text, "big.yaml")
    assert "bomb" not in str(info.value) and info.value.diagnostics[0].span.line == 1


@pytest.mark.parametrize("content, message", [
    ("", "the spec is empty"),
    ("- relu\n", "a spec must be a mapping, found a list"),
    (b"name: \xff\n", "not valid UTF-8"),
])
def test_files_that_are_not_specs(tmp_path, content, message):
    path = tmp_path / "s.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SpecError, match=message):
        load_spec(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(str(tmp_path / "absent.yaml"))
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(str(tmp_path))


# -- extends and imports ------------------------------------------------------------------------

BASE = """\
name: base
input: [3, 16, 16]
params: {width: 8, classes: 10}
layers:
  - conv: {name: conv, out: width, kernel: 3, padding: 1}
  - adaptive_avgpool: {out: 1}
  - flatten
  - linear: {name: fc, out: classes}
"""


def test_extends_merges_params_key_by_key(write_spec):
    write_spec(BASE, "base.yaml")
    child = write_spec("extends: base.yaml\nname: child\nparams: {classes: 2}\n", "child.yaml")
    doc = load_spec(str(child))
    assert (doc["name"], dict(doc["params"])) == ("child", {"width": 8, "classes": 2})
    graph = archc.analyze(child)
    assert graph.by_id["fc"].shape == (2,) and graph.by_id["conv"].shape == (8, 16, 16)


def test_an_override_error_points_into_the_child_file(write_spec):
    write_spec(BASE, "base.yaml")
    child = write_spec("extends: base.yaml\nparams: {classes: 2}\nlayers:\n  - relux\n", "child.yaml")
    with pytest.raises(SpecError) as info:
        archc.analyze(child)
    assert str(only_error(info.value).span) == f"{child}:4:5"


def test_resnet34_is_resnet18_with_other_stages():
    resnet34 = archc.analyze(SPECS / "resnet34.yaml")
    as_override = archc.analyze(SPECS / "resnet18.yaml", {"stages": [[64, 3], [128, 4], [256, 6], [512, 3]]})
    assert [(n.id, n.shape, n.params) for n in resnet34.nodes] == [(n.id, n.shape, n.params) for n in as_override.nodes]
    assert resnet34.total_params != archc.analyze(SPECS / "resnet18.yaml").total_params


def test_imports_bring_blocks_from_another_file(write_spec):
    write_spec("blocks:\n  cbr:\n    params: {out: int}\n    layers: [conv: {name: conv, out: out, kernel: 3, padding: 1},"
               " relu]\n", "lib.yaml")
    spec = write_spec("name: use\nimports: [lib.yaml]\ninput: [3, 8, 8]\nlayers:\n  - cbr: {name: stem, out: 4}\n",
                      "use.yaml")
    graph = archc.analyze(spec)
    assert [(n.id, n.shape) for n in graph.nodes] == [("stem.conv", (4, 8, 8)), ("stem.1", (4, 8, 8))]


def test_own_blocks_win_over_imported_ones(write_spec):
    write_spec("blocks:\n  b:\n    layers: [relu]\n", "lib.yaml")
    spec = write_spec("imports: lib.yaml\ninput: [2, 4, 4]\nblocks:\n  b:\n    layers: [tanh]\nlayers: [b]\n", "use.yaml")
    assert [n.op for n in archc.analyze(spec).nodes] == ["tanh"]


@pytest.mark.parametrize("field", ["extends", "imports"])
def test_cycles_are_detected(write_spec, field):
    write_spec(f"{field}: b.yaml\nname: a\n", "a.yaml")
    b = write_spec(f"{field}: a.yaml\nname: b\n", "b.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(str(b))
    diag = only_error(info.value)
    assert diag.message == f"cyclic '{field}': 'b.yaml' is already being loaded"
    assert str(diag.span).endswith("a.yaml:1:" + str(len(field) + 3))


def test_extending_a_missing_file(write_spec):
    spec = write_spec("extends: nowhere.yaml\n")
    with pytest.raises(SpecError) as info:
        load_spec(str(spec))
    diag = only_error(info.value)
    assert "cannot extend 'nowhere.yaml': no such file" == diag.message and str(diag.span) == f"{spec}:1:10"


def _tree(value):
    """A positioned tree as plain data with every span, for comparing two loaders."""
    from archc.loader import PList, PMap

    if isinstance(value, PMap):
        return ("map", value.span, [(k, value.key_spans[k], value.value_spans[k], _tree(v)) for k, v in value.items()])
    if isinstance(value, PList):
        return ("list", value.span, value.item_spans, [_tree(v) for v in value])
    return (type(value).__name__, value)


def _read_with(loader_class, text):
    from archc.yaml_parse import _read

    try:
        return _tree(_read(loader_class(text, "f.yaml")))
    except Exception as exc:  # YAML syntax errors are mapped to SpecErrors by parse_yaml, not by `_read`
        return ("error", type(exc).__name__)


YAML_TEXTS = sorted(SPECS.glob("*.yaml")) + sorted((SPECS.parent / "docs" / "examples").glob("*.yaml")) + sorted(
    (SPECS.parent / "tests" / "bad_specs").rglob("*.yaml"))


def test_libyaml_fast_path_builds_the_same_tree_and_spans_as_the_precise_loader():
    """The fast path only saves time: where both loaders succeed, trees, values and spans are identical."""
    from archc.yaml_parse import _FastLoader, _Loader

    compared = 0
    for path in YAML_TEXTS:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        precise, fast = _read_with(_Loader, text), _read_with(_FastLoader, text)
        if precise[0] != "error" and fast[0] != "error":
            assert fast == precise, path
            compared += 1
    assert compared > 50


@pytest.mark.parametrize("text", ["a: &x [1, 2]\nb: *x\nc: *x\n", "a: 1\n" * 3, "- [\n", "a: !!python/name:os.system x\n",
                                  "a:\n  - b: 1\n    c: [1,\n      2]\n"])
def test_parse_yaml_agrees_with_the_precise_loader(text):
    from archc.yaml_parse import _Loader

    expected = _read_with(_Loader, text)
    try:
        got = _tree(parse_yaml(text, "f.yaml"))
    except SpecError:
        got = ("error",)
    assert got[0] == expected[0] == "error" or got == expected


def test_extends_in_yaml_text_and_dicts_is_resolved_from_the_current_folder(monkeypatch):
    monkeypatch.chdir(SPECS)
    text = archc.analyze("extends: resnet18.yaml\nparams: {num_classes: 7}\n")
    as_dict = archc.analyze({"extends": "resnet18.yaml", "params": {"num_classes": 7}})
    reference = archc.analyze(str(SPECS / "resnet18.yaml"), {"num_classes": 7})
    assert text.nodes[-1].shape == as_dict.nodes[-1].shape == reference.nodes[-1].shape == (7,)
    assert sum(n.params for n in text.nodes) == sum(n.params for n in reference.nodes)
    with pytest.raises(SpecError, match="no such file"):
        archc.analyze("extends: missing.yaml\n")


def test_a_file_loaded_again_is_its_current_text_and_a_fresh_tree(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text("name: a\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: b\n")
    first = load_spec(str(child))
    first["layers"][0]["conv"]["out"] = 99       # a caller editing its copy
    first["layers"].append("relu")
    second = load_spec(str(child))
    assert second["layers"] == [{"conv": {"out": 4, "kernel": 3}}] and second["name"] == "b"
    assert second["layers"].span_of(0) == Span(str(path), 4, 5, 25)
    path.write_text("name: a\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 6, kernel: 3}\n")  # edited: read again
    assert load_spec(str(child))["layers"][0]["conv"]["out"] == 6
    assert archc.analyze(str(child)).total_params == 6 * 3 * 9 + 6
