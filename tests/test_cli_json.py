"""One convention for every command: `wrote PATH (details)` on stderr, `--json` reports on stdout."""

from __future__ import annotations

import json

import onnx
import torch

import archc
from archc.cli import run
from conftest import SPECS

torch.set_num_threads(1)

TINY = """\
name: tiny
input: [3, 12, 12]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - adaptive_avgpool: {out: 1}
  - flatten
  - linear: {name: head, out: 3}
"""


def test_build_json_is_the_module_tree(tmp_path, capsys, write_spec):
    spec = write_spec(f"extends: {SPECS / 'lenet5.yaml'}\nfreeze: [feature]\n")
    target = tmp_path / "m.pt"
    assert run(["build", str(spec), "--json", "--check", "--depth", "2", "-o", str(target)]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    model = archc.load(target)
    assert err == f"wrote {target}\n" and data["output"] == str(target)
    assert data["params"] == sum(p.numel() for p in model.parameters())
    assert data["trainable_params"] == sum(p.numel() for p in model.parameters() if p.requires_grad) < data["params"]
    assert [(m["path"], m["params"]) for m in data["modules"]] == [
        (name, sum(p.numel() for p in m.parameters())) for name, m in model.named_modules() if name]
    assert data["check"] == {"layers": sum(1 for n in archc.analyze(spec).nodes if n.module), "ok": True}


def test_build_emit_python_json_needs_an_output_file(capsys):
    assert run(["build", str(SPECS / "lenet5.yaml"), "--emit", "python", "--json"]) == 2
    assert "--json with --emit python needs -o FILE" in capsys.readouterr().err


def test_export_json_and_a_one_line_simplify_summary(tmp_path, capsys, write_spec):
    spec = write_spec(TINY)
    target = tmp_path / "tiny.onnx"
    assert run(["export", str(spec), "--onnx", "-o", str(target), "--provider", "cpu", "--simplify", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    nodes = len(onnx.load(str(target)).graph.node)
    assert err.startswith(f"wrote {target} (") and err.count("\n") == 1
    assert data["output"] == str(target) and data["simplified"]["nodes_after"] == nodes
    assert data["simplified"]["nodes_before"] >= nodes and [p["batch"] for p in data["parity"]] == [2, 1]
    assert all(p["ok"] for p in data["parity"])
    assert run(["export", str(spec), "--onnx", "-o", str(target), "--provider", "cpu", "--simplify"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0] == f"onnxslim: {data['simplified']['nodes_before']} -> {nodes} graph nodes"
    assert ".tiny.onnx." not in out and len(out.splitlines()) == 4  # no staging folder, no onnxslim table:
    assert out.splitlines()[1].startswith("onnx.checker: ok")      # its line, the checker's and two batches


def test_graph_says_what_it_wrote_like_every_command(tmp_path, capsys, write_spec):
    target = tmp_path / "g.dot"
    assert run(["graph", str(write_spec(TINY)), "-o", str(target)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"wrote {target}\n") and target.read_text().startswith("digraph")
