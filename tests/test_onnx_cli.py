"""`archc export --onnx` and `archc.export_onnx` on specs: outputs, names, weights, errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

import archc
from archc import runtime
from archc.cli import run

torch.set_num_threads(1)

TINY = """\
name: tiny
input: [3, 12, 12]
params: {classes: 5}
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}
  - adaptive_avgpool: {out: 1}
  - flatten
  - dropout: {p: 0.5}
  - linear: {name: head, out: classes}
"""


def _ort(path, x):
    return runtime.session(path, "cpu").run(None, {"input": x.numpy()})[0]


def test_cli_export_matches_the_built_module(write_spec, tmp_path, capsys):
    spec = write_spec(TINY)
    target = tmp_path / "out.onnx"
    assert run(["export", str(spec), "--onnx", "-o", str(target), "--set", "classes=3"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {target}" in printed and "ONNX Runtime cpu" in printed and "batch 1:" in printed
    model = archc.build(spec, seed=0, classes=3).eval()
    x = torch.randn(4, 3, 12, 12)
    np.testing.assert_allclose(_ort(target, x), model(x).detach().numpy(), rtol=1e-3, atol=1e-5)


def test_default_name_comes_from_the_spec_and_batch_can_be_fixed(write_spec, tmp_path, monkeypatch, capsys):
    spec = write_spec(TINY, "some_file.yaml")
    monkeypatch.chdir(tmp_path)
    assert run(["export", str(spec), "--onnx", "--batch", "3", "--input", "3x20x20"]) == 0
    model = onnx.load(str(tmp_path / "tiny.onnx"))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [3, 3, 20, 20] and model.graph.output[0].name == "output"


def test_weights_file_is_exported_not_fresh_weights(write_spec, tmp_path):
    spec = write_spec(TINY)
    trained = archc.build(spec, seed=7).eval()
    archc.save(trained, tmp_path / "w.pt")
    report = archc.export_onnx(spec, tmp_path / "w.onnx", weights=tmp_path / "w.pt")
    x = torch.randn(2, 3, 12, 12)
    np.testing.assert_allclose(_ort(report.path, x), trained(x).detach().numpy(), rtol=1e-3, atol=1e-5)
    fresh = archc.build(spec, seed=0).eval()
    assert not np.allclose(_ort(report.path, x), fresh(x).detach().numpy())


def test_weights_of_another_spec_fail_cleanly(write_spec, tmp_path, capsys):
    spec = write_spec(TINY)
    archc.save(archc.build(spec, seed=0, classes=9), tmp_path / "w.pt")
    target = tmp_path / "w.onnx"
    assert run(["export", str(spec), "--onnx", "-o", str(target), "--weights", str(tmp_path / "w.pt")]) == 1
    assert "do not fit this spec" in capsys.readouterr().err and not target.exists()


def test_fp16_and_simplify_are_reported(write_spec, tmp_path, capsys):
    spec = write_spec(TINY)
    assert run(["export", str(spec), "--onnx", "-o", str(tmp_path / "h.onnx"), "--fp16", "--simplify"]) == 0
    printed = capsys.readouterr().out
    assert "float16, simplified" in printed and "atol 0.01 x max(1, largest |output|)" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_forced_cuda_provider_is_a_usage_error_without_cuda(write_spec, tmp_path, capsys):
    spec = write_spec(TINY)
    assert run(["export", str(spec), "--onnx", "-o", str(tmp_path / "c.onnx"), "--provider", "cuda"]) == 2
    assert "provider 'cuda' cannot run here" in capsys.readouterr().err
    assert list(tmp_path.glob("*.onnx")) == []


def test_spec_errors_exit_1_with_location(write_spec, tmp_path, capsys):
    spec = write_spec(TINY.replace("kernel: 3, padding: 1", "kernel: 3, paddin: 1"))
    assert run(["export", str(spec), "--onnx", "-o", str(tmp_path / "e.onnx")]) == 1
    assert f"{spec}:5:" in capsys.readouterr().err and not (tmp_path / "e.onnx").exists()


def test_a_format_is_required(write_spec, capsys):
    assert run(["export", str(write_spec(TINY))]) == 2
    assert "--onnx" in capsys.readouterr().err
