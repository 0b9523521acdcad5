"""Swin Transformer's shifted-window attention (v1 and v2) and patch merging, with
torchvision's state_dict keys (qkv, proj, relative_position_bias_table / logit_scale,
cpb_mlp, and the index buffers)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LOGIT_MAX = 4.605170185988092  # log(100): version 2 clamps its logit scale at 100


def pair(value) -> tuple[int, int]:
    """(7, 7) for 7: emitted source writes a square window as one int (as Conv2d's
    kernel_size)."""
    return (value, value) if isinstance(value, int) else tuple(value)


def merge_patches(x: torch.Tensor) -> torch.Tensor:
    """[N, H, W, C] -> [N, ceil(H/2), ceil(W/2), 4C]: each 2x2 neighbourhood (odd sizes
    padded) side by side."""
    h, w = x.shape[-3:-1]
    x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    corners = [x[..., i::2, j::2, :] for j in (0, 1) for i in (0, 1)]
    return torch.cat(corners, -1)


class MergePatches(nn.Module):
    """`merge_patches` as a module (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return merge_patches(x)


def relative_index(window: tuple[int, int]) -> torch.Tensor:
    """For every (query, key) pair of a window, flattened, the row of its offset in the
    bias table."""
    rows, cols = torch.arange(window[0]), torch.arange(window[1])
    coords = torch.stack(torch.meshgrid(rows, cols, indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    row, col = offsets[..., 0] + window[0] - 1, offsets[..., 1] + window[1] - 1
    return (row * (2 * window[1] - 1) + col).flatten()


def _log_offsets(window: tuple[int, int]) -> torch.Tensor:
    """v2's continuous offsets [1, 2w0-1, 2w1-1, 2], normalised to [-8, 8] and
    log-spaced."""
    axes = [torch.arange(1 - w, w, dtype=torch.float32) / max(w - 1, 1) for w in window]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij")).permute(1, 2, 0)
    table = grid.unsqueeze(0) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0


def _shift_mask(size, window, shift, like: torch.Tensor) -> torch.Tensor:
    """[windows, N, N]: -100 between tokens that the cyclic shift brought together from
    different regions (`size`, `window`, `shift`: (height, width) pairs), of `like`'s dtype
    and device."""
    region = like.new_zeros(size)
    k = 0
    for hs in ((0, -window[0]), (-window[0], -shift[0]), (-shift[0], None)):
        for ws in ((0, -window[1]), (-window[1], -shift[1]), (-shift[1], None)):
            region[hs[0] : hs[1], ws[0] : ws[1]] = k
            k += 1
    windows = region.view(size[0] // window[0], window[0], size[1] // window[1], -1)
    windows = windows.permute(0, 2, 1, 3).reshape(-1, window[0] * window[1])
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0)


class ShiftedWindowAttention(nn.Module):
    """Multi-head self-attention inside (shifted) windows of a channels-last map
    [N, H, W, C].

    version 1: scaled dot products plus a learned relative-position bias table (Liu et
    al. 2021); version 2: cosine similarity times a learned, clamped logit scale, plus a
    bias that a small MLP computes from log-spaced offsets (Liu et al. 2022). Maps that
    the window does not tile are padded at the bottom and right, and a window as large
    as the map is not shifted (as torchvision does).
    """

    def __init__(
        self,
        dim: int,
        window: tuple[int, int],
        shift: tuple[int, int],
        heads: int,
        version: int = 1,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.window, self.shift = pair(window), pair(shift)
        self.heads, self.version = heads, version
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        rows = (2 * self.window[0] - 1) * (2 * self.window[1] - 1)
        if version == 1:
            self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, heads))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        else:
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
            self.cpb_mlp = nn.Sequential(
                nn.Linear(2, 512),
                nn.ReLU(inplace=True),
                nn.Linear(512, heads, bias=False),
            )
            with torch.no_grad():
                self.qkv.bias[dim : 2 * dim].zero_()
            self.register_buffer("relative_coords_table", _log_offsets(self.window))
        self.register_buffer("relative_position_index", relative_index(self.window))

    def position_bias(self) -> torch.Tensor:
        n = self.window[0] * self.window[1]
        if self.version == 1:
            table = self.relative_position_bias_table
        else:
            table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        bias = table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1)
        bias = bias.contiguous().unsqueeze(0)
        return bias if self.version == 1 else 16 * torch.sigmoid(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, h, w, c = x.shape
        (wh, ww), n, heads = self.window, self.window[0] * self.window[1], self.heads
        x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        ph, pw = x.shape[1:3]
        sizes = zip(self.window, (ph, pw), self.shift)
        shift = tuple(0 if win >= size else s for win, size, s in sizes)
        if any(shift):
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = (ph // wh) * (pw // ww)
        x = x.view(batch, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(batch * windows, n, c)
        bias = self.qkv.bias
        if self.version == 2:
            zeros = torch.zeros_like(bias[c : 2 * c])  # no bias on the keys
            bias = torch.cat([bias[:c], zeros, bias[2 * c :]])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(-1, n, 3, heads, c // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        if self.version == 1:
            attn = (q * (c // heads) ** -0.5) @ k.transpose(-2, -1)
        else:
            attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
            attn = attn * torch.clamp(self.logit_scale, max=LOGIT_MAX).exp()
        attn = attn + self.position_bias()
        if any(shift):
            mask = _shift_mask((ph, pw), self.window, shift, x)
            attn = attn.view(batch, windows, heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, heads, n, n)
        attn = F.dropout(attn.softmax(dim=-1), self.attention_dropout, self.training)
        x = (attn @ v).transpose(1, 2).reshape(batch * windows, n, c)
        x = F.dropout(self.proj(x), self.dropout, self.training)
        x = x.view(batch, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(batch, ph, pw, c)
        if any(shift):
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        return x[:, :h, :w, :].contiguous()

    def extra_repr(self) -> str:
        window, shift = list(self.window), list(self.shift)
        heads, version = self.heads, self.version
        return f"window={window}, shift={shift}, heads={heads}, version={version}"
