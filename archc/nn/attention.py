"""Self-attention over tokens, with nn.MultiheadAttention's parameters and state_dict
keys."""

from __future__ import annotations

import torch
from torch import nn


class SelfAttention(nn.MultiheadAttention):
    """`MultiheadAttention(x, x, x)` on batch-first tokens [N, L, D], returning the
    values only.

    Without attention weights, eval mode takes torch's fused fast path (as torchvision's
    ViT does) and training computes with F.scaled_dot_product_attention.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__(embed_dim, num_heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]
