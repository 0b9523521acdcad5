"""MaxViT's block/grid partition attention and squeeze-excitation, on images [C, H, W]."""

from __future__ import annotations

from .api import Call, Draw, Example, Init, Memory, Module, Op, Saved
from .attention import attention_macs
from .base import Attr, Inferred, ShapeError, expect_rank


def _partition_infer(attrs, inputs):
    (shape,) = inputs
    expect_rank("partition_attention", shape, 3, "partition attention works on an image [C, H, W]")
    c, h, w = shape
    size, head_dim = attrs["size"], attrs["head_dim"]
    for length, axis in ((h, "height"), (w, "width")):
        if length % size:
            raise ShapeError(f"partition size {size} does not tile the map's {axis} {length}",
                             f"MaxViT needs every block's input to be a multiple of {size}: use another --input "
                             "or partition size")
    if c % head_dim:
        raise ShapeError(f"partition_attention head_dim={head_dim} does not divide the channels C={c}",
                         f"choose a head_dim that divides {c}")
    hidden = c * attrs["mlp_ratio"]
    heads, positions, tokens = c // head_dim, h * w, size * size
    params = 4 * c + 4 * c * c + 4 * c + (2 * size - 1) ** 2 * heads + 2 * c * hidden + hidden + c
    macs = (4 * c * c + 2 * c * hidden) * positions + attention_macs(tokens, c) * (positions // tokens)
    return Inferred(shape, params, macs)


def _partition_call(attrs, inputs):
    return Call("archc.nn.maxvit.PartitionAttention", (inputs[0][0], attrs["head_dim"], attrs["size"], attrs["kind"]),
                {"mlp_ratio": attrs["mlp_ratio"], "p": attrs["p"], "attention_dropout": attrs["attention_dropout"],
                 "mlp_dropout": attrs["mlp_dropout"]})


def _se_infer(attrs, inputs):
    (shape,) = inputs
    expect_rank("squeeze_excitation", shape, 3, "squeeze-excitation gates the channels of an image [C, H, W]")
    c, s = shape[0], attrs["squeeze"]
    return Inferred(shape, 2 * c * s + c + s, 2 * c * s)



def _partition_saved(attrs, inputs, output):
    """What training saves (dropouts and p 0, measured on CPU): both layer norms' inputs and statistics,
    qkv's input, q, the scaled k, v, the softmax, merge's, fc1's, GELU's and fc2's inputs; masks when
    dropping. The batched matmuls copy q and v out of to_qkv's output, except with one head, where they
    are views of it: then that whole storage (3 maps) is saved in their place (2 maps)."""
    c, h, w = inputs[0]
    positions, heads = h * w, c // attrs["head_dim"]
    maps, hidden = c * positions, c * attrs["mlp_ratio"] * positions
    softmax = positions * heads * attrs["size"] ** 2
    saved = [Saved("maps", (8 if heads > 1 else 9) * maps), Saved("stats", 4 * positions, "stats"), Saved("softmax", softmax),
             Saved("hidden", 2 * hidden)]
    for name, p in (("attention_dropout", attrs["attention_dropout"]), ("mlp_dropout", attrs["mlp_dropout"])):
        if 0.0 < p < 1.0:
            saved.append(Saved(name, maps, "mask"))
    if attrs["p"] > 0.0:
        saved.append(Saved("noise", 2))
    return tuple(saved)


def _partition_scratch(attrs, inputs, output):
    """The eval peak (measured on CPU): at QK^T, the grouped input, norm, qkv, q and k^T's copies and the
    scores; at the bias add, scores twice; in the MLP, fc1's output and GELU's. The bias is held once per batch."""
    c, h, w = inputs[0]
    heads, tokens = c // attrs["head_dim"], attrs["size"] ** 2
    maps, softmax, hidden = c * h * w, h * w * heads * tokens, c * attrs["mlp_ratio"] * h * w
    attention = max(7 * maps + softmax, 4 * maps + 2 * softmax)
    if 2 * hidden > attention:
        return (Saved("mlp", 2 * hidden),)
    return Saved("attention", attention), Saved("bias", heads * tokens * tokens, batched=False)


def _se_saved(attrs, inputs, output):
    """fc1's input (the means), silu's input, fc2's input, the sigmoid's output (the gate), and x for x * gate."""
    c, s = inputs[0][0], attrs["squeeze"]
    return Saved("means", c), Saved("squeezed", s), Saved("activated", s), Saved("gate", c), Saved("input")


_NORMS = ("attn_layer.0.weight", "attn_layer.0.bias", "mlp_layer.0.weight", "mlp_layer.0.bias")
PARTITION_INIT = Init(  # the module's own: layer norms 1 and 0, MaxViT's bias table; torch's defaults for the linears
    tensors=_NORMS + ("attn_layer.1.to_qkv.weight", "attn_layer.1.to_qkv.bias", "attn_layer.1.merge.weight",
                      "attn_layer.1.merge.bias", "attn_layer.1.relative_position_bias_table", "mlp_layer.1.weight",
                      "mlp_layer.1.bias", "mlp_layer.3.weight", "mlp_layer.3.bias"),
    defaults={**{t: ("constant", {"val": 1.0 if t.endswith("weight") else 0.0}) for t in _NORMS},
              "attn_layer.1.relative_position_bias_table": ("trunc_normal", {"std": 0.02})},
    vectors=_NORMS + ("bias",))
PARTITION_ATTENTION = Op(
    "partition_attention",
    "MaxViT's block ('window') or grid attention with relative position bias, then an MLP, each residual",
    _partition_infer,
    {"kind": Attr("choice", doc="window: neighbouring size x size positions; grid: a size x size grid across the map",
                  choices=("window", "grid")),
     "size": Attr("pos_int", 7, "partition size; must divide the map's height and width"),
     "head_dim": Attr("pos_int", 32, "channels per head; must divide the channels"),
     "mlp_ratio": Attr("pos_int", 4), "p": Attr("prob", 0.0, "stochastic depth of both residual branches"),
     "attention_dropout": Attr("prob", 0.0), "mlp_dropout": Attr("prob", 0.0)},
    lower=Module(_partition_call),
    init=PARTITION_INIT,
    label=lambda attrs: f"{attrs['kind']} attention {attrs['size']}",
    draw=Draw("#d0e0e3"),
    example=Example({"kind": "grid", "size": 2, "head_dim": 2, "mlp_ratio": 3}, [(8, 4, 4)]),
    memory=Memory(_partition_saved, scratch=_partition_scratch),
)
SQUEEZE_EXCITATION = Op(
    "squeeze_excitation",
    "gate each channel by sigmoid(fc2(silu(fc1(mean over H, W)))) (1x1 convs fc1, fc2; MBConv's SE)",
    _se_infer,
    {"squeeze": Attr("pos_int", doc="channels of the squeezed representation")},
    lower=Module(lambda attrs, inputs: Call("archc.nn.maxvit.SqueezeExcitation", (inputs[0][0], attrs["squeeze"]))),
    init=Init(tensors=("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")),
    label=lambda attrs: f"squeeze-excitation {attrs['squeeze']}",
    example=Example({"squeeze": 2}, [(4, 8, 8)]),
    memory=Memory(_se_saved, scratch=lambda attrs, inputs, output: (Saved("gate", inputs[0][0]),)),
)
OPS = [PARTITION_ATTENTION, SQUEEZE_EXCITATION]
