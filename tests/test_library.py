"""`archc validate` on block libraries (blocks, no layers): checked as far as a file without an input allows."""

from __future__ import annotations

import json

from archc.cli import run
from conftest import ROOT

LIBRARY = """\
blocks:
  conv_bn:
    params: {out: int, stride: 1}
    layers:
      - conv: {out: out, kernel: 3, stride: stride, padding: 1}
      - batchnorm
  stage:
    params: {width: int, count: int, kind: {type: integer}}
    layers:
      - for: i
        in: count
        do: [conv_bn: {out: width}, relux]
      - add:
          a: [conv_bn: {out: width}]
          b: [cnv: {out: width, kernel: 1}]
      - group: [conv_bn: {out: width}, nope_block]
"""


def test_the_docs_library_validates(capsys):
    library = ROOT / "docs" / "examples" / "library.yaml"
    assert run(["validate", str(library)]) == 0
    assert capsys.readouterr().out == f"ok  {library}: block library, 1 block (conv_bn_relu)\n"
    assert run(["validate", "--json", str(library)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"file": str(library), "ok": True, "library": True,
                                                   "blocks": ["conv_bn_relu"]}]


def test_every_unknown_name_and_bad_param_in_a_library_is_reported(write_spec, capsys):
    spec = write_spec(LIBRARY, "lib.yaml")
    assert run(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:8:44: error: block 'stage' param 'kind'" in err
    assert f"{spec}:12:37: error: unknown op or block 'relux'" in err and "did you mean 'relu'" in err
    assert f"{spec}:15:15: error: unknown op or block 'cnv'" in err and "path: blocks.stage.layers[1].add.b[0]" in err
    assert f"{spec}:16:40: error: unknown op or block 'nope_block'" in err
    assert "1 of 1 file(s) failed with 4 error(s)" in err and "block 'conv_bn'" not in err  # a block of the file


def test_a_library_with_a_structural_error_fails_at_the_schema(write_spec, capsys):
    spec = write_spec("blocks:\n  b:\n    layers: [conv: {out: 4, kernel: 3, strde: 2}]\n", "lib.yaml")
    assert run(["validate", str(spec)]) == 1
    assert "unknown key 'strde'" in capsys.readouterr().err


def test_a_library_block_named_like_an_op_is_an_error(write_spec, capsys):
    spec = write_spec("blocks:\n  ok: {layers: [relu]}\n  relu:\n    layers: [conv: {out: 4, kernel: 1}]\n", "lib.yaml")
    assert run(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:3:3: error: block 'relu' has the name of an op" in err and "1 error(s)" in err
