"""Small layers without a torch.nn class: channel layer norm, permute, select, chunk,
stochastic depth."""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an [N, C, H, W] tensor (torchvision's ConvNeXt
    LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        shape, weight, bias = self.normalized_shape, self.weight, self.bias
        x = nn.functional.layer_norm(x, shape, weight, bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """`x.permute(*dims)` as a module (it takes a place in an nn.Sequential, as
    torchvision's does)."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)

    def extra_repr(self) -> str:
        return f"dims={list(self.dims)}"


class Select(nn.Module):
    """`x.select(dim, index)`: one position along a dimension, which disappears (ViT's
    class token x[:, 0])."""

    def __init__(self, dim: int, index: int):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"


class Chunk(nn.Module):
    """One of `chunks` equal pieces of the input along the channels:
    `x.chunk(chunks, 1)[index]`."""

    def __init__(self, chunks: int, index: int):
        super().__init__()
        self.chunks, self.index = chunks, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.chunks, 1)[self.index]

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, index={self.index}"


class StochasticDepth(nn.Module):
    """Drops the whole residual branch per sample ('row') or per batch ('batch') with
    probability `p` while training, scaling what is kept by 1 / (1 - p); the identity in
    eval (Huang et al. 2016). Draws the same random numbers as
    torchvision.ops.StochasticDepth."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        if mode not in ("row", "batch"):
            raise ValueError(f"mode must be 'row' or 'batch', found {mode!r}")
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"
