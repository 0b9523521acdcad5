"""Swin's shifted-window attention (v1, v2) and patch merging, on channels-last maps [H, W, C]."""

from __future__ import annotations

import math

from .api import Call, Draw, Example, Init, Memory, Module, Op, Saved
from .attention import attention_macs
from .base import Attr, Inferred, ShapeError, numel
from .layout import CHANNELS_LAST, Layout, describe, names_of

CPB_HIDDEN = 512  # v2's continuous position-bias MLP: 2 -> 512 -> heads


def _map(op: str, shape) -> tuple[int, int, int]:
    if names_of(shape) != CHANNELS_LAST:
        raise ShapeError(f"{op} expects a channels-last map [N, H, W, C], got {describe(shape)}",
                         "permute: {dims: [0, 2, 3, 1]} turns [C, H, W] into [H, W, C]")
    return shape


def _padded(size: int, window: int, pad: bool, axis: str) -> int:
    if window > size and not pad:
        raise ShapeError(f"window {window} is larger than the map's {axis} {size}",
                         "use a smaller window or a larger input, or pad: true to pad the map as torchvision does")
    if size % window and not pad:
        raise ShapeError(f"window {window} does not tile the map's {axis} {size}",
                         f"use an input whose {axis} here is a multiple of {window}, or pad: true to pad the map "
                         "at the bottom and right as torchvision does")
    return -(-size // window) * window


def _window_infer(attrs, inputs):
    h, w, c = _map("window_attention", inputs[0])
    heads, (wh, ww) = attrs["heads"], attrs["window"]
    if attrs["version"] not in (1, 2):
        raise ShapeError(f"window_attention version {attrs['version']} is not 1 or 2", "Swin is version 1, Swin v2 is 2")
    if c % heads:
        raise ShapeError(f"window_attention heads={heads} do not divide the channels C={c}",
                         f"choose heads that divide {c}")
    ph, pw = _padded(h, wh, attrs["pad"], "height"), _padded(w, ww, attrs["pad"], "width")
    rows = (2 * wh - 1) * (2 * ww - 1)
    params = 4 * c * c + 4 * c
    positions, n = ph * pw, wh * ww
    macs = 4 * c * c * positions + attention_macs(n, c) * (positions // n)
    if attrs["version"] == 1:
        params += rows * heads
    else:                                   # logit scale, and the bias MLP run once on the offset table
        params += heads + 2 * CPB_HIDDEN + CPB_HIDDEN + CPB_HIDDEN * heads
        macs += rows * (2 * CPB_HIDDEN + CPB_HIDDEN * heads)
    return Inferred(inputs[0], params, macs)


def _window_call(attrs, inputs):
    return Call("archc.nn.swin.ShiftedWindowAttention", (inputs[0][-1], attrs["window"], attrs["shift"], attrs["heads"]),
                {"version": attrs["version"], "attention_dropout": attrs["attention_dropout"],
                 "dropout": attrs["dropout"]})


def _merge_infer(attrs, inputs):
    h, w, c = _map("merge_patches", inputs[0])
    return Inferred(Layout((-(-h // 2), -(-w // 2), 4 * c), CHANNELS_LAST))



def _window_saved(attrs, inputs, output):
    """What training saves (dropouts 0, measured on CPU): per sample, the partitioned input of qkv, the
    scaled q, k and v, the softmax and proj's input; v2 also F.normalize's inputs (the qkv storage), norms
    and divisors, and once per batch the logit scale, the bias MLP's hidden layer and its sigmoid.
    The batched matmuls copy k and v out of qkv's output, except with one head, where they are views
    of it: then that whole storage (3 maps) is saved in their place (2 maps)."""
    h, w, c = inputs[0]
    (wh, ww), heads = attrs["window"], attrs["heads"]
    positions = _padded(h, wh, attrs["pad"], "height") * _padded(w, ww, attrs["pad"], "width")
    maps, softmax = c * positions, positions * heads * wh * ww
    if attrs["version"] == 1:
        qkv = 4 * maps if heads > 1 else 5 * maps  # scaled q, k, v (copies, or qkv's storage) and proj's input
        return Saved("partitioned", maps), Saved("qkv", qkv), Saved("softmax", softmax)
    rows = (2 * wh - 1) * (2 * ww - 1)
    normalized = 4 * maps if heads > 1 else 3 * maps  # q and k normalized, v's copy (one head: a view), proj's input
    return (Saved("partitioned", maps), Saved("qkv", 3 * maps), Saved("normalized", normalized),
            Saved("norms", 4 * positions * heads), Saved("logits", 2 * softmax),
            Saved("bias_mlp", heads + rows * CPB_HIDDEN + heads * (wh * ww) ** 2, batched=False))



def _window_scratch(attrs, inputs, output):
    """The eval peak (measured on CPU), at each point of the forward that may hold it: QK^T (the
    partitioned input, qkv, the scaled q, copies of q and k^T unless there is one head, the scores; v2:
    both normalized), the bias add and the shift mask's add (the scores twice), building the mask, the
    AV product (v's copy unless one head; the mask is held to the end), and v2's bias MLP. The map's
    padding, the mask, the bias and v2's key-less qkv bias are counted where they are live."""
    h, w, c = inputs[0]
    (wh, ww), heads, n = attrs["window"], attrs["heads"], attrs["window"][0] * attrs["window"][1]
    sizes = (_padded(h, wh, attrs["pad"], "height"), _padded(w, ww, attrs["pad"], "width"))
    positions = sizes[0] * sizes[1]
    maps, softmax = c * positions, positions * heads * n
    padding, copies = maps - c * h * w, 1 if heads > 1 else 0
    v2 = attrs["version"] == 2
    rows = (2 * wh - 1) * (2 * ww - 1)
    points = [(Saved("qk", (4 + 2 * copies + v2) * maps + padding + softmax),),
              (Saved("bias_add", 3 * maps + padding + 2 * softmax), Saved("bias", heads * n * n, batched=False))]
    if v2:
        points += [(Saved("bias_mlp", 3 * maps + padding + softmax), Saved("hidden", 2 * rows * CPB_HIDDEN, batched=False)),
                   (Saved("bias_build", 3 * maps + padding + softmax),
                    Saved("bias", rows * heads + 3 * heads * n * n, batched=False))]
    av = (Saved("av", (4 + copies) * maps + padding + softmax),)
    if any(s and win < size for s, win, size in zip(attrs["shift"], attrs["window"], sizes)):
        mask = Saved("mask", positions * n, batched=False)  # one [N, N] block per window, held to the end
        points += [(Saved("mask_build", 3 * maps + padding + softmax), mask,
                    Saved("region", 2 * positions + positions * n, batched=False),  # labels and their differences
                    Saved("nonzero", positions * n, "bool", batched=False)),
                   (Saved("mask_add", 3 * maps + padding + 2 * softmax), mask)]
        av += (mask,)
    points.append(av)
    held = (Saved("qkv_bias", 4 * c, batched=False),) if v2 else ()  # v2's bias with zeros for the keys
    return [(*point, *held) for point in points]


_LINEARS = ("qkv.weight", "qkv.bias", "proj.weight", "proj.bias")
_V1, _V2 = ("relative_position_bias_table",), ("logit_scale", "cpb_mlp.0.weight", "cpb_mlp.0.bias", "cpb_mlp.2.weight")
WINDOW_INIT = Init(  # the module's own: torchvision's bias table and logit scale; torch's defaults for the linears
    tensors=_LINEARS + _V1 + _V2, having=lambda attrs: _LINEARS + (_V1 if attrs["version"] == 1 else _V2),
    defaults={"relative_position_bias_table": ("trunc_normal", {"std": 0.02}),
              "logit_scale": ("constant", {"val": math.log(10)})})
WINDOW_ATTENTION = Op(
    "window_attention",
    "multi-head self-attention inside (shifted) windows of a channels-last map (Swin v1, v2)",
    _window_infer,
    {"heads": Attr("pos_int", doc="number of heads; must divide the channels"),
     "window": Attr("pair", doc="window size, w or [wh, ww]"),
     "shift": Attr("nonneg_pair", 0, "cyclic shift before partitioning (Swin: window // 2 in every other block)"),
     "version": Attr("pos_int", 1, "1: scaled dot product and bias table; 2: cosine, logit scale, bias MLP"),
     "pad": Attr("bool", False, "pad a map the window does not tile (torchvision's behaviour) instead of refusing it"),
     "attention_dropout": Attr("prob", 0.0), "dropout": Attr("prob", 0.0)},
    lower=Module(_window_call),
    init=WINDOW_INIT,
    label=lambda attrs: f"window attention {attrs['window'][0]}, {attrs['heads']} heads"
                        + (f", shift {attrs['shift'][0]}" if any(attrs["shift"]) else ""),
    draw=Draw("#d0e0e3"),
    example=Example({"heads": 2, "window": 2, "shift": 1}, [Layout((4, 4, 12), CHANNELS_LAST)]),
    memory=Memory(_window_saved, scratch=_window_scratch),
)
MERGE_PATCHES = Op(
    "merge_patches",
    "each 2x2 neighbourhood of a channels-last map side by side: [H, W, C] -> [H/2, W/2, 4C] (odd sizes padded)",
    _merge_infer,
    lower=Module(lambda attrs, inputs: Call("archc.nn.swin.MergePatches")),
    label=lambda attrs: "merge 2x2 patches",
    example=Example({}, [Layout((4, 4, 3), CHANNELS_LAST)]),
    memory=Memory(lambda attrs, inputs, output: (),  # slicing and torch.cat save nothing
                  scratch=lambda attrs, inputs, output: (Saved("padded", numel(output)),)),  # F.pad's copy
)
OPS = [WINDOW_ATTENTION, MERGE_PATCHES]
