"""Measuring with torch what `archc memory` predicts: the storages autograd saves, and the inference peak.

- `saved_bytes(model, x)`: a train-mode forward under `torch.autograd.graph.saved_tensors_hooks`;
  every packed tensor's storage is counted once (by `untyped_storage().data_ptr()`), parameters and
  buffers excluded.
- `inference_peak_bytes(model, x)`: an eval, no-grad forward under a TorchDispatchMode that tracks
  every tensor an ATen op returns (weak references) and, after each op, sums the storages still
  alive (parameters and buffers excluded, the caller's input included). Kernels' internal scratch
  (oneDNN, im2col, cuDNN workspaces) is not visible at this level and is not counted.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def state_storages(model: torch.nn.Module) -> set[int]:
    tensors = [*model.parameters(), *model.buffers()]
    return {t.untyped_storage().data_ptr() for t in tensors}


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the unique non-parameter storages autograd saves in a train-mode forward of `x`."""
    exclude = state_storages(model)
    kept: dict[int, int] = {}
    keep: list[torch.Tensor] = []  # hold them so no storage address is reused during the forward

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in exclude:
            kept[storage.data_ptr()] = storage.nbytes()
            keep.append(t)
        return t.detach()  # not `t`: an output saved by its own grad_fn would make a cycle gc cannot break

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    keep.clear()  # the graph holds `pack` (and so `keep`): another cycle through C++, broken here
    return sum(kept.values())


class LiveTensors(TorchDispatchMode):
    """The peak of live storage bytes over the ATen ops run under this mode."""

    def __init__(self, exclude: set[int], start: list[torch.Tensor]):
        super().__init__()
        self.exclude = exclude
        self.alive: list[tuple[weakref.ref, int, int]] = []
        for t in start:
            self._track(t)
        self.peak = self.live()

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        self.alive.append((weakref.ref(t), storage.data_ptr(), storage.nbytes()))

    def live(self) -> int:
        self.alive = [entry for entry in self.alive if entry[0]() is not None]
        storages = {ptr: nbytes for _, ptr, nbytes in self.alive if ptr not in self.exclude}
        return sum(storages.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._track(leaf)
        self.peak = max(self.peak, self.live())
        return out


def inference_peak_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    model.eval()
    with torch.no_grad(), LiveTensors(state_storages(model), [x]) as mode:
        model(x)
    return mode.peak
