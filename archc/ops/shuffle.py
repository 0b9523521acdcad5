"""Channel split and channel shuffle (ShuffleNetV2)."""

from __future__ import annotations

from .api import VIEW, Call, Example, Module, Op, nn, saves
from .base import Attr, Inferred, ShapeError, fmt_shape


def _chunk_infer(attrs, inputs):
    (shape,) = inputs
    chunks, index = attrs["chunks"], attrs["index"]
    if len(shape) < 2:
        raise ShapeError(f"chunk expects an input with channels [N, C, ...], got {fmt_shape(shape)}")
    if index >= chunks:
        raise ShapeError(f"chunk index {index} is out of range for {chunks} chunks", f"use 0 .. {chunks - 1}")
    size = -(-shape[0] // chunks)              # torch.chunk: pieces of ceil(C / chunks), the last one smaller
    start = size * index
    if start >= shape[0]:
        raise ShapeError(f"{shape[0]} channels make fewer than {index + 1} chunks of {size}",
                         "use fewer chunks or a lower index")
    return Inferred((min(size, shape[0] - start), *shape[1:]))


def _shuffle_infer(attrs, inputs):
    (shape,) = inputs
    if len(shape) != 3:
        raise ShapeError(f"channel_shuffle expects [N, C, H, W], got {fmt_shape(shape)}")
    if shape[0] % attrs["groups"]:
        raise ShapeError(f"groups={attrs['groups']} does not divide the {shape[0]} channels",
                         "choose groups that divides the channel count")
    return Inferred(shape)


OPS = [
    Op("chunk", "one of `chunks` pieces along the channels (x.chunk(chunks, 1)[index]; ShuffleNetV2's split)",
       _chunk_infer, {"chunks": Attr("pos_int", doc="number of pieces"), "index": Attr("nonneg_int", doc="which")},
       lower=Module(lambda a, i: Call("archc.nn.layers.Chunk", (a["chunks"], a["index"]))),
       label=lambda a: f"chunk {a['index']}/{a['chunks']}", example=Example({"chunks": 2, "index": 1}, [(6, 8, 8)]),
       memory=VIEW),  # a slice of the input's storage
    Op("channel_shuffle", "channel shuffle across groups (torch.nn.ChannelShuffle)", _shuffle_infer,
       {"groups": Attr("pos_int", doc="number of groups")},
       lower=Module(lambda a, i: nn("ChannelShuffle", a["groups"])),
       label=lambda a: f"channel shuffle {a['groups']}", example=Example({"groups": 2}, [(6, 8, 8)]),
       memory=saves()),  # a copy; its backward is a shuffle of the gradient
]
