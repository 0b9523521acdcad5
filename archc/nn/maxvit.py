"""MaxViT's block and grid attention with relative position bias, and its
squeeze-excitation, with torchvision's state_dict keys (attn_layer.1.to_qkv, merge,
relative_position_bias_table, ...)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import StochasticDepth


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(silu(fc1(mean over H, W of x)))) with 1x1 convs fc1, fc2 (Hu et
    al. 2018)."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one expression: a local would keep fc2's output alive through the product
        return x * self.scale_activation(
            self.fc2(self.activation(self.fc1(self.avgpool(x))))
        )


def offset_index(size: int) -> torch.Tensor:
    """[N, N] for the N = size^2 positions of a window: the bias-table row of each
    (query, key) offset."""
    axis = torch.arange(size)
    coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    return (offsets[..., 0] + size - 1) * (2 * size - 1) + offsets[..., 1] + size - 1


class RelativeAttention(nn.Module):
    """Multi-head attention inside groups of `size` x `size` tokens [N, G, P, D], plus a
    learned bias per relative offset and head. Keys are scaled by D^-1/2 (the whole dim,
    as MaxViT does)."""

    def __init__(self, dim: int, head_dim: int, size: int):
        super().__init__()
        self.heads, self.head_dim, self.size = dim // head_dim, head_dim, size
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.merge = nn.Linear(dim, dim)
        table = torch.empty((2 * size - 1) ** 2, self.heads)
        self.relative_position_bias_table = nn.Parameter(table)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", offset_index(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, g, p, d = x.shape
        q, k, v = (
            t.reshape(b, g, p, self.heads, self.head_dim).transpose(2, 3)
            for t in self.to_qkv(x).chunk(3, -1)
        )
        n = self.size * self.size
        index = self.relative_position_index.view(-1)
        bias = self.relative_position_bias_table[index].view(n, n, -1)
        bias = bias.permute(2, 0, 1).unsqueeze(0)
        attn = (q @ (k * d**-0.5).transpose(-2, -1) + bias).softmax(dim=-1)
        return self.merge((attn @ v).transpose(2, 3).reshape(b, g, p, d))


class PartitionAttention(nn.Module):
    """MaxViT's block ('window') or grid attention on [N, C, H, W]: split into groups of
    size x size positions (neighbours, or strided across the whole map), then
    x + attention and x + MLP, pre-norm."""

    def __init__(
        self,
        dim: int,
        head_dim: int,
        size: int,
        kind: str,
        mlp_ratio: int = 4,
        p: float = 0.0,
        attention_dropout: float = 0.0,
        mlp_dropout: float = 0.0,
    ):
        super().__init__()
        self.size, self.kind = size, kind
        self.attn_layer = nn.Sequential(
            nn.LayerNorm(dim),
            RelativeAttention(dim, head_dim, size),
            nn.Dropout(attention_dropout),
        )
        self.mlp_layer = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim * mlp_ratio),
            nn.GELU(),
            nn.Linear(dim * mlp_ratio, dim),
            nn.Dropout(mlp_dropout),
        )
        self.stochastic_dropout = StochasticDepth(p, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tile = self.size if self.kind == "window" else h // self.size  # its side
        x = x.reshape(b, c, h // tile, tile, w // tile, tile).permute(0, 2, 4, 3, 5, 1)
        x = x.reshape(b, (h // tile) * (w // tile), tile * tile, c)
        if self.kind == "grid":
            x = x.transpose(-2, -3)
        x = x + self.stochastic_dropout(self.attn_layer(x))
        x = x + self.stochastic_dropout(self.mlp_layer(x))
        if self.kind == "grid":
            x = x.transpose(-2, -3)
        x = x.reshape(b, h // tile, w // tile, tile, tile, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, h, w)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, size={self.size}"
