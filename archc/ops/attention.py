"""Multi-head self-attention over tokens [L, D] (ViT's encoder), lowered to nn.MultiheadAttention."""

from __future__ import annotations

from .api import Call, Draw, Example, Memory, Module, Op, Saved
from .base import Attr, Inferred, ShapeError
from .layout import TOKENS, Layout, describe, names_of


def attention_macs(tokens: int, dim: int) -> int:
    """QK^T and AV: two [L, L] x [L, D] products (summed over heads they cover D once each)."""
    return 2 * tokens * tokens * dim


def _infer(attrs, inputs):
    (shape,) = inputs
    if names_of(shape) != TOKENS:
        raise ShapeError(f"self_attention expects tokens [N, L, D], got {describe(shape)}",
                         "make tokens with flatten and permute (ViT: conv patches, flatten: {start: 2}, "
                         "permute: {dims: [0, 2, 1]})")
    tokens, dim = shape
    heads = attrs["heads"]
    if dim % heads:
        raise ShapeError(f"self_attention heads={heads} do not divide the token dim D={dim}",
                         f"choose heads that divide {dim} (each head gets D / heads dims)")
    params = 4 * dim * dim + 4 * dim          # in_proj (3D x D + 3D), out_proj (D x D + D)
    projections = 4 * dim * dim * tokens
    return Inferred(shape, params, projections + attention_macs(tokens, dim))



def _saved(attrs, inputs, output):
    """What training saves (dropout 0, measured on CPU): in_proj's input (a batch-first copy), q, k and v
    (one storage), scaled_dot_product_attention's output and logsumexp (float32), out_proj's input."""
    tokens, dim = inputs[0]
    return (Saved("tokens", tokens * dim), Saved("qkv", 3 * tokens * dim), Saved("attention", tokens * dim),
            Saved("logsumexp", attrs["heads"] * tokens, "float32"))


SELF_ATTENTION = Op(
    "self_attention",
    "multi-head self-attention over tokens (torch.nn.MultiheadAttention, batch first, fused in eval)",
    _infer,
    {"heads": Attr("pos_int", doc="number of heads; must divide the token dim"),
     "dropout": Attr("prob", 0.0, "dropout on the attention weights")},
    lower=Module(lambda attrs, inputs: Call("archc.nn.attention.SelfAttention",
                                            (inputs[0][-1], attrs["heads"]), {"dropout": attrs["dropout"]})),
    label=lambda attrs: f"self-attention, {attrs['heads']} heads",
    draw=Draw("#d0e0e3"),
    example=Example({"heads": 2}, [Layout((5, 8), TOKENS)]),
    memory=Memory(_saved),  # eval: one fused kernel, nothing held besides its output
)
OPS = [SELF_ATTENTION]
