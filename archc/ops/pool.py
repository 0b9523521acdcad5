"""Max, average and adaptive pooling (2-d)."""

from __future__ import annotations

from .api import Draw, Example, Memory, Module, Op, Saved, nn, saves
from .base import Attr, Inferred, ShapeError, expect_rank, numel
from .spatial import window_out2d

_HINT_RANK = "pooling needs an image tensor [N, C, H, W]"


def _stride(attrs):
    return attrs["kernel"] if attrs["stride"] is None else attrs["stride"]


def _window(name: str, attrs, inputs, dilation=(1, 1)):
    (shape,) = inputs
    expect_rank(name, shape, 3, _HINT_RANK)
    c, h, w = shape
    for k, p in zip(attrs["kernel"], attrs["padding"]):
        if p > k // 2:
            raise ShapeError(f"padding {p} is more than half the kernel {k} (torch refuses it)",
                             "use padding <= kernel // 2")
    oh, ow = window_out2d((h, w), attrs["kernel"], _stride(attrs), attrs["padding"], dilation, attrs["ceil_mode"])
    return Inferred((c, oh, ow))


def _label(name):
    def label(attrs):
        kh, kw = attrs["kernel"]
        s = _stride(attrs)
        text = f"{name} {kh}x{kw}/{s[0]}" if s[0] == s[1] else f"{name} {kh}x{kw}/{s[0]}x{s[1]}"
        return text + (", ceil" if attrs["ceil_mode"] else "")

    return label


def _window_attrs(**extra):
    return {
        "kernel": Attr("pair", doc="window size"),
        "stride": Attr("pair", None, "defaults to the kernel size"),
        "padding": Attr("nonneg_pair", 0),
        "ceil_mode": Attr("bool", False),
        **extra,
    }


POOL_FILL = Draw("#d9ead3")


def _max_saved(attrs, inputs, output):
    """Max pooling saves its input and the int64 index of every output's maximum."""
    return Saved("input"), *_indices(attrs, inputs, output)


def _indices(attrs, inputs, output):
    """Torch's max pooling makes int64 indices even in eval mode (max_pool2d_with_indices)."""
    return (Saved("indices", numel(output), "int64"),)


def _adaptive_avg_saved(attrs, inputs, output):
    """Pooling to 1x1 is a mean over H and W in torch, whose backward needs only the input's size."""
    return () if attrs["out"] == (1, 1) else (Saved("input"),)


def _maxpool_call(attrs, inputs):
    return nn("MaxPool2d", attrs["kernel"], _stride(attrs), attrs["padding"], attrs["dilation"],
              ceil_mode=attrs["ceil_mode"])


def _avgpool_call(attrs, inputs):
    return nn("AvgPool2d", attrs["kernel"], _stride(attrs), attrs["padding"], ceil_mode=attrs["ceil_mode"],
              count_include_pad=attrs["count_include_pad"])


MAXPOOL = Op(
    "maxpool",
    "2-d max pooling (torch.nn.MaxPool2d)",
    lambda attrs, inputs: _window("maxpool", attrs, inputs, attrs["dilation"]),
    _window_attrs(dilation=Attr("pair", 1)),
    lower=Module(_maxpool_call),
    label=_label("maxpool"),
    inplace_safe=True,
    draw=POOL_FILL,
    example=Example({"kernel": 3, "stride": 2, "ceil_mode": True}, [(3, 8, 8)]),
    memory=Memory(_max_saved, scratch=_indices),
)
AVGPOOL = Op(
    "avgpool",
    "2-d average pooling (torch.nn.AvgPool2d)",
    lambda attrs, inputs: _window("avgpool", attrs, inputs),
    _window_attrs(count_include_pad=Attr("bool", True)),
    lower=Module(_avgpool_call),
    label=_label("avgpool"),
    inplace_safe=True,
    draw=POOL_FILL,
    example=Example({"kernel": 3, "stride": 2, "padding": 1}, [(3, 8, 8)]),
    memory=saves("input"),
)


def _adaptive(name: str):
    def infer(attrs, inputs):
        (shape,) = inputs
        expect_rank(name, shape, 3, _HINT_RANK)
        return Inferred((shape[0], *attrs["out"]))

    cls = "AdaptiveAvgPool2d" if name == "adaptive_avgpool" else "AdaptiveMaxPool2d"

    kind = "average" if name == "adaptive_avgpool" else "max"
    return Op(
        name,
        f"adaptive {kind} pooling to a fixed output size (torch.nn.Adaptive{kind.title()[:3]}Pool2d)",
        infer,
        {"out": Attr("pair", doc="output size, s or [h, w]")},
        lower=Module(lambda attrs, inputs: nn(cls, attrs["out"])),
        label=lambda attrs: f"{name.replace('_', ' ')} {attrs['out'][0]}x{attrs['out'][1]}",
        draw=POOL_FILL,
        example=Example({"out": [2, 3]}, [(3, 8, 8)]),
        memory=Memory(_adaptive_avg_saved) if kind == "average" else Memory(_max_saved, scratch=_indices),
    )


OPS = [MAXPOOL, AVGPOOL, _adaptive("adaptive_avgpool"), _adaptive("adaptive_maxpool")]
