"""ONNX export of nn.Modules: the exporter traps, dynamic batch, fp16, onnxslim, external data, atomicity."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from archc import runtime
from archc.onnx_export import TOLERANCE, ExportFailed, export_module, parity

torch.set_num_threads(1)


def _stats(bn: nn.BatchNorm2d) -> nn.BatchNorm2d:
    """Non-trivial running statistics and affine weights, so eval-mode BatchNorm is really tested."""
    gen = torch.Generator().manual_seed(1)
    c = bn.num_features
    bn.running_mean.copy_(torch.randn(c, generator=gen))
    bn.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
    bn.weight.data.copy_(torch.randn(c, generator=gen))
    bn.bias.data.copy_(torch.randn(c, generator=gen))
    return bn


TRAPS = {
    "lrn": (nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)),
            (3, 17, 17)),
    "ceil_mode_pool": (nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
                                     nn.AvgPool2d(3, 2, ceil_mode=True, padding=1)), (3, 18, 18)),
    "adaptive_non_divisible": (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d((3, 5)),
                                             nn.AdaptiveMaxPool2d((2, 3))), (3, 13, 13)),
    "adaptive_max_1d": (nn.Sequential(nn.Conv1d(3, 4, 3), nn.AdaptiveMaxPool1d(4)), (3, 11)),
    "batchnorm_eval": (nn.Sequential(nn.Conv2d(3, 6, 3), _stats(nn.BatchNorm2d(6)), nn.ReLU()), (3, 9, 9)),
    "dropout": (nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.Dropout(0.5), nn.Linear(32, 5)), (3, 4, 4)),
}


@pytest.mark.parametrize("name", TRAPS)
def test_exporter_traps_match_torch_on_onnx_runtime(tmp_path, name):
    module, shape = TRAPS[name]
    target = tmp_path / f"{name}.onnx"
    report = export_module(module, target, input_shape=shape)
    assert report.provider == "cpu" or torch.cuda.is_available()
    assert [p.batch for p in report.parity] == [2, 1] and all(p.ok for p in report.parity)
    # independent of archc's own parity code: run the file and compare with torch directly
    x = torch.randn(3, *shape)
    got = runtime.session(target, "cpu").run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, module.eval()(x).detach().numpy(), rtol=1e-3, atol=1e-5)


def test_dynamic_batch_axis_and_fixed_batch(tmp_path):
    module, shape = TRAPS["batchnorm_eval"]
    dynamic = export_module(module, tmp_path / "d.onnx", input_shape=shape, output_names=["features"])
    model = onnx.load(str(dynamic.path))
    assert model.graph.input[0].name == "input" and model.graph.output[0].name == "features"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    out = runtime.session(dynamic.path, "cpu").run(None, {"input": np.zeros((7, *shape), np.float32)})[0]
    assert out.shape[0] == 7

    fixed = export_module(module, tmp_path / "f.onnx", input_shape=shape, batch=4)
    assert onnx.load(str(fixed.path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert [p.batch for p in fixed.parity] == [4]


def test_fp16_keeps_float32_boundary_and_halves_weights(tmp_path):
    module, shape = TRAPS["batchnorm_eval"]
    report = export_module(module, tmp_path / "h.onnx", input_shape=shape, fp16=True)
    model = onnx.load(str(report.path))
    assert report.dtype == "float16" and all(p.ok for p in report.parity)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    conv_weight = next(t for t in model.graph.initializer if len(t.dims) == 4)
    assert conv_weight.data_type == onnx.TensorProto.FLOAT16


def test_simplify_reverifies(tmp_path):
    module, shape = TRAPS["adaptive_non_divisible"]
    report = export_module(module, tmp_path / "s.onnx", input_shape=shape, simplify=True)
    assert report.simplified and all(p.ok for p in report.parity)


def test_external_data_file_is_written_beside_the_model(tmp_path):
    module, shape = TRAPS["dropout"]
    report = export_module(module, tmp_path / "big.onnx", input_shape=shape, external_data=True)
    assert report.data_path == tmp_path / "big.onnx.data"
    assert report.data_size == (tmp_path / "big.onnx.data").stat().st_size > 48 * 32 * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]


def _logits(shift: float) -> nn.Linear:
    """One output near 1e4, the others near 0, every one moved by `shift`."""
    linear = nn.Linear(4, 3)
    with torch.no_grad():
        linear.weight.fill_(0.1)
        linear.bias.copy_(torch.tensor([1e4, 0.0, 0.0]) + shift)
    return linear


def test_atol_grows_with_the_largest_output(tmp_path):
    """Rounding is relative to the magnitude summed: outputs near 0 beside one near 1e4 may differ by
    a fraction of atol x 1e4 (an untrained ResNet-101 does), but not by more."""
    report = export_module(_logits(0.0), tmp_path / "l.onnx", input_shape=(4,))
    rtol, atol = TOLERANCE["float32"]
    allowed = atol * 1e4
    assert 0.1 * allowed > 1e-5 + rtol * 1.0  # an element-wise tolerance alone would refuse this shift
    assert parity(report.path, _logits(0.1 * allowed), (4,), 2, "cpu", (rtol, atol)).ok
    assert not parity(report.path, _logits(3 * allowed), (4,), 2, "cpu", (rtol, atol)).ok


class CallCounter(nn.Module):
    """Returns x times the number of calls so far: the export traces one count, torch then gives others."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls


def test_parity_failure_leaves_no_file_under_the_output_name(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous export")
    with pytest.raises(ExportFailed, match=r"differ from PyTorch's[\s\S]*kept as .*m\.failed\.onnx"):
        export_module(CallCounter(), target, input_shape=(4,))
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.failed.onnx", "m.onnx"]
    onnx.checker.check_model(str(tmp_path / "m.failed.onnx"))


class NotExportable(nn.Module):
    """Data-dependent control flow: torch.export cannot trace it."""

    def forward(self, x):
        return x if x.sum() > 0 else -x


def test_exporter_error_is_reported_and_writes_nothing(tmp_path):
    with pytest.raises(ExportFailed, match="torch.onnx.export failed"):
        export_module(NotExportable(), tmp_path / "n.onnx", input_shape=(4,))
    assert list(tmp_path.iterdir()) == []


def test_opsets_older_than_the_exporter_writes_are_refused(tmp_path):
    with pytest.raises(ExportFailed, match="opset 13 is older than torch's exporter writes"):
        export_module(nn.Linear(4, 2), tmp_path / "o.onnx", input_shape=(4,), opset=13)
    assert list(tmp_path.iterdir()) == []


def test_no_check_skips_verification(tmp_path):
    report = export_module(CallCounter(), tmp_path / "c.onnx", input_shape=(4,), check=False)
    assert report.provider is None and report.parity == [] and report.path.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_provider_parity(tmp_path):
    module, shape = TRAPS["batchnorm_eval"]
    report = export_module(module, tmp_path / "g.onnx", input_shape=shape, provider="cuda")
    assert report.provider == "cuda" and all(p.ok for p in report.parity)
