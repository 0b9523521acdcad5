"""ONNX Runtime execution providers: which ones really work here, and sessions that use them.

onnxruntime-gpu lists the CUDA and TensorRT providers even on machines with no GPU; creating
a session with them there makes ONNX Runtime print errors. So a provider counts as usable only
when its libraries can run: CUDA needs a working CUDA device (asked through torch), TensorRT
additionally needs the TensorRT libraries.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
from functools import lru_cache

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
PREFERENCE = ("tensorrt", "cuda", "cpu")


class ProviderUnavailable(ValueError):
    """A requested provider cannot run on this machine."""


def _cuda_works() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _tensorrt_libraries() -> bool:
    return bool(ctypes.util.find_library("nvinfer")) or any(
        importlib.util.find_spec(name) is not None for name in ("tensorrt_libs", "tensorrt"))


@lru_cache(maxsize=1)
def usable() -> dict[str, str | None]:
    """Every known provider -> None if it works here, else why not."""
    import onnxruntime

    listed = set(onnxruntime.get_available_providers())
    reasons: dict[str, str | None] = {}
    for short, name in PROVIDERS.items():
        if name not in listed:
            reasons[short] = f"this onnxruntime build has no {name}"
        elif short != "cpu" and not _cuda_works():
            reasons[short] = "no usable CUDA device (torch.cuda.is_available() is False)"
        elif short == "tensorrt" and not _tensorrt_libraries():
            reasons[short] = "the TensorRT libraries (libnvinfer) are not installed"
        else:
            reasons[short] = None
    return reasons


def choose(provider: str | None = None) -> str:
    """The short name of the provider to use: `provider` if it works, else the best that does."""
    reasons = usable()
    if provider is None:
        return next(p for p in PREFERENCE if reasons[p] is None)
    if provider not in PROVIDERS:
        raise ProviderUnavailable(f"unknown provider '{provider}'; choose one of {', '.join(PROVIDERS)}")
    if reasons[provider] is not None:
        working = ", ".join(p for p in PREFERENCE if reasons[p] is None)
        raise ProviderUnavailable(f"provider '{provider}' cannot run here: {reasons[provider]} (usable: {working})")
    return provider


def session(model_path, provider: str, threads: int | None = None):
    """An InferenceSession on `provider` (CPU as the fallback for ops it lacks), quiet on success;
    `threads` sets its intra-op threads (default: ONNX Runtime's, one per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: a provider's informational chatter is not ours to show
    if threads:
        options.intra_op_num_threads = threads
    names = [PROVIDERS[provider]] + ([PROVIDERS["cpu"]] if provider != "cpu" else [])
    return onnxruntime.InferenceSession(str(model_path), options, providers=names)
