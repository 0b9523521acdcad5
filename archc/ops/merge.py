"""Merges of several branches: concatenation along a dimension and element-wise addition (broadcasting)."""

from __future__ import annotations

from .api import Draw, Example, Function, Op, saves
from .base import Attr, Inferred, ShapeError, fmt_shape
from .layout import dim_index, names_of, with_names


def _shapes(inputs) -> str:
    return ", ".join(fmt_shape(s) for s in inputs)


def _same_rank(op: str, inputs, hint: str) -> None:
    if any(len(s) != len(inputs[0]) for s in inputs):
        raise ShapeError(f"{op} needs inputs of the same rank, so that their batch dims line up; got {_shapes(inputs)}",
                         hint)


def _common_names(inputs, prefer) -> tuple[str, ...]:
    """The inputs' layout where they agree, else that of `prefer`."""
    names = {names_of(s) for s in inputs}
    return names.pop() if len(names) == 1 else names_of(prefer)


def _concat_infer(attrs, inputs):
    first = inputs[0]
    _same_rank("concat", inputs, "concatenate tensors of the same kind: images with images, tokens with tokens")
    k = dim_index("concat", attrs["dim"], first)
    name = names_of(first)[k]
    along = "channels (dim 1)" if name == "C" and k == 0 else f"dim {attrs['dim']} ({name})"
    for shape in inputs[1:]:
        differ = [j for j in range(len(first)) if j != k and shape[j] != first[j]]
        if differ:
            hint = ("make every branch downsample the same way (same stride and padding)" if along.startswith("ch")
                    else f"every dim but the concatenated one must agree; dim {differ[0] + 1} "
                         f"({names_of(first)[differ[0]]}) is {first[differ[0]]} and {shape[differ[0]]}")
            raise ShapeError(f"concat needs the same shape apart from {along}; got {_shapes(inputs)}", hint)
    out = (*first[:k], sum(s[k] for s in inputs), *first[k + 1:])
    return Inferred(with_names(out, _common_names(inputs, first)))


def broadcast(op: str, inputs, hint: str):
    """torch's broadcasting of same-rank shapes: each dim equal or 1, the output the largest."""
    _same_rank(op, inputs, "give the smaller input size-1 dims (reshape) so that it broadcasts")
    out = []
    for j, sizes in enumerate(zip(*inputs)):
        wide = set(sizes) - {1}
        if len(wide) > 1:
            raise ShapeError(f"{op} cannot broadcast {_shapes(inputs)}: dim {j + 1} ({names_of(inputs[0])[j]}) "
                             f"has sizes {', '.join(map(str, sorted(wide)))}", hint)
        out.append(wide.pop() if wide else 1)
    out = tuple(out)
    return with_names(out, _common_names(inputs, next((s for s in inputs if tuple(s) == out), inputs[0])))


def _add_infer(attrs, inputs):
    return Inferred(broadcast("add", inputs, "each dim must be equal or 1 (torch broadcasting); for a residual, give "
                                             "the shortcut a projection (1x1 conv with the same stride and output "
                                             "channels)"))


def gate_of(a, b) -> bool:
    """Whether `b` is a per-channel gate [C, 1, 1] of the image `a` [C, H, W]."""
    return len(a) == 3 and b[0] == a[0] and len(b) == 3 and b[1:] == (1, 1) and a != b


def _add_inplace(attrs, args):
    """`x += y` for two distinct inputs (a residual sum), else no in-place form; archc uses it only where
    the sum has the shape of `x` (see archc.emit.forward.inplace_nodes)."""
    return f"{args[0]} += {args[1]}" if len(args) == 2 and args[0] != args[1] else None


OPS = [
    Op("concat", "concatenate branches along a dimension (torch.cat; default dim 1, the channels)", _concat_infer,
       {"dim": Attr("int", 1, "the dimension, counting the batch as 0 (negative: from the end)")},
       lower=Function(lambda attrs, args: f"torch.cat([{', '.join(args)}], {attrs['dim']})"), merge=True,
       inplace_safe=True, label=lambda attrs: "concat" if attrs["dim"] == 1 else f"concat dim {attrs['dim']}",
       draw=Draw("#d9d2e9", "ellipse"), example=Example({"dim": -1}, [(2, 4, 3), (2, 4, 5), (2, 4, 1)]),
       memory=saves()),
    Op("add", "add branches element-wise, broadcasting size-1 dims as torch does (residuals, embeddings)",
       _add_infer, lower=Function(lambda attrs, args: " + ".join(args), _add_inplace), merge=True, inplace_safe=True,
       draw=Draw("#f4cccc", "ellipse"), example=Example({}, [(3, 1, 4), (3, 4, 4)]),
       memory=saves()),
]
