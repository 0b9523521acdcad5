"""ONNX Runtime provider selection: never try CUDA/TensorRT without a working GPU, and say why."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archc import runtime
from archc.onnx_export import export_module

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.skipif(not NO_CUDA, reason="checks the behaviour on a machine without CUDA")
def test_cpu_is_chosen_without_cuda_and_nothing_is_printed(tmp_path, capfd):
    assert runtime.choose() == "cpu"
    assert runtime.usable()["cuda"] is not None and runtime.usable()["tensorrt"] is not None
    report = export_module(nn.Linear(4, 2), tmp_path / "l.onnx", input_shape=(4,))
    assert report.provider == "cpu"
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.skipif(not NO_CUDA, reason="checks the behaviour on a machine without CUDA")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_forcing_a_gpu_provider_without_cuda_fails_cleanly(provider):
    with pytest.raises(runtime.ProviderUnavailable, match=f"'{provider}' cannot run here: .*usable: cpu"):
        runtime.choose(provider)


def test_unknown_provider_is_refused():
    with pytest.raises(runtime.ProviderUnavailable, match="unknown provider 'rocm'"):
        runtime.choose("rocm")


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_cuda_is_preferred_when_it_works(tmp_path):
    assert runtime.choose() in ("cuda", "tensorrt")
    export_module(nn.Linear(4, 2), tmp_path / "l.onnx", input_shape=(4,), check=False)
    assert runtime.session(tmp_path / "l.onnx", "cuda").get_providers()[0] == "CUDAExecutionProvider"
