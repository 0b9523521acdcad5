"""`archc export --onnx` and `archc.export_onnx` on specs: outputs, names, weights, errors."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

import archc
from archc import onnx_export, runtime
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
    printed, err = capsys.readouterr()
    assert err.startswith(f"wrote {target} (") and "ONNX Runtime cpu" in printed and "batch 1:" in printed
    model = archc.build(spec, seed=0, classes=3).eval()
    x = torch.randn(4, 3, 12, 12)
    np.testing.assert_allclose(_ort(target, x), model(x).detach().numpy(), rtol=1e-3, atol=1e-5)


def test_default_name_comes_from_the_spec_file_and_batch_can_be_fixed(write_spec, tmp_path, monkeypatch, capsys):
    spec = write_spec(TINY, "some_file.yaml")
    monkeypatch.chdir(tmp_path)
    assert run(["export", str(spec), "--onnx", "--batch", "3", "--input", "3x20x20"]) == 0
    model = onnx.load(str(tmp_path / "some_file.onnx"))  # the file's own name, not its `name:` (issue 13)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [3, 3, 20, 20] and model.graph.output[0].name == "output"


def test_weights_written_by_archc_build_are_exported_not_fresh_weights(write_spec, tmp_path):
    spec = write_spec(TINY)
    assert run(["build", str(spec), "--seed", "7", "-o", str(tmp_path / "w.pt")]) == 0
    assert run(["export", str(spec), "--onnx", "-o", str(tmp_path / "w.onnx"), "--weights", str(tmp_path / "w.pt")]) == 0
    trained = archc.build(spec, seed=7).eval()
    x = torch.randn(2, 3, 12, 12)
    np.testing.assert_allclose(_ort(tmp_path / "w.onnx", x), trained(x).detach().numpy(), rtol=1e-3, atol=1e-5)
    fresh = archc.build(spec, seed=0).eval()
    assert not np.allclose(_ort(tmp_path / "w.onnx", x), fresh(x).detach().numpy())


def test_opset_is_honoured(write_spec, tmp_path, capsys):
    target = tmp_path / "o.onnx"
    assert run(["export", str(write_spec(TINY)), "--onnx", "-o", str(target), "--opset", "18"]) == 0
    model = onnx.load(str(target))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    assert "opset 18" in capsys.readouterr().err  # the wrote line
    assert run(["export", str(write_spec(TINY)), "--onnx", "-o", str(tmp_path / "o13.onnx"), "--opset", "13"]) == 2
    assert "13 is not in the range x>=18" in capsys.readouterr().err and not (tmp_path / "o13.onnx").exists()


def test_parity_failure_exits_1_and_keeps_only_the_failed_file(write_spec, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(onnx_export.TOLERANCE, "float32", (-1.0, -1.0))  # no difference is small enough
    target = tmp_path / "p.onnx"
    assert run(["export", str(write_spec(TINY)), "--onnx", "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"export failed: nothing written to {target}" in err and "differ from PyTorch's" in err
    assert "batch 2 on cpu: max abs diff" in err and f"kept as {tmp_path / 'p.failed.onnx'}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.failed.onnx", "spec.yaml"]


def test_external_data_is_reported(write_spec, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(onnx_export, "export_module", functools.partial(onnx_export.export_module, external_data=True))
    target = tmp_path / "x.onnx"
    assert run(["export", str(write_spec(TINY)), "--onnx", "-o", str(target)]) == 0
    assert f"weights in external data file {target}.data" in capsys.readouterr().out
    assert (tmp_path / "x.onnx.data").stat().st_size > 0


def test_forced_cpu_provider_is_used_and_named(write_spec, tmp_path, capsys):
    assert run(["export", str(write_spec(TINY)), "--onnx", "-o", str(tmp_path / "c.onnx"), "--provider", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "on ONNX Runtime cpu" in printed and "batch 2: max abs diff" in printed


def test_cli_export_in_a_fresh_process_prints_no_onnx_runtime_errors(write_spec, tmp_path):
    spec = write_spec(TINY)
    done = subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", "export", str(spec),
                           "--onnx", "-o", str(tmp_path / "s.onnx")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[E:onnxruntime" not in done.stderr
    if not torch.cuda.is_available():  # without a GPU stderr holds only the line saying what was written
        assert done.stderr.startswith(f"wrote {tmp_path / 's.onnx'} (") and done.stderr.count("\n") == 1
    assert "parity with PyTorch" in done.stdout


def test_weights_of_another_spec_fail_cleanly(write_spec, tmp_path, capsys):
    spec = write_spec(TINY)
    archc.save(archc.build(spec, seed=0, classes=9), tmp_path / "w.pt")
    target = tmp_path / "w.onnx"
    assert run(["export", str(spec), "--onnx", "-o", str(target), "--weights", str(tmp_path / "w.pt")]) == 1
    assert "do not fit this spec" in capsys.readouterr().err and not target.exists()


def test_fp16_and_simplify_are_reported(write_spec, tmp_path, capsys):
    spec = write_spec(TINY)
    assert run(["export", str(spec), "--onnx", "-o", str(tmp_path / "h.onnx"), "--fp16", "--simplify"]) == 0
    printed, err = capsys.readouterr()
    assert "float16, simplified" in err and "atol 0.01 x max(1, largest |output|)" in printed
    assert printed.startswith("onnxslim: ") and "graph nodes" in printed.splitlines()[0]


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
