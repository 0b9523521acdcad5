"""Shapes with named dimensions, and the ops that move or pick dimensions (permute, transpose, select, slice).

Shapes exclude the batch. A plain shape means [C, H, W] (images), [C, L] (sequences) or [F]
(features); a `Layout` shape says that its dimensions mean something else: tokens [L, D] or
channels-last [H, W, C]. Ops that work on the last dimension (linear, layer norm) accept these,
and ops that keep the shape keep the layout (they return the same value).
"""

from __future__ import annotations

from .api import VIEW, Call, Example, Function, Module, Op
from .base import Attr, Inferred, Shape, ShapeError, fmt_shape

TOKENS = ("L", "D")
CHANNELS_LAST = ("H", "W", "C")
_PLAIN = {1: ("F",), 2: ("C", "L"), 3: ("C", "H", "W")}
_WORDS = {TOKENS: "tokens", CHANNELS_LAST: "channels-last"}


class Layout(tuple):
    """A shape whose dimensions carry names other than the plain ones (see the module docstring)."""

    def __new__(cls, dims, names: tuple[str, ...]):
        shape = super().__new__(cls, dims)
        shape.names = tuple(names)
        return shape

    def __getnewargs__(self):
        return tuple(self), self.names


def names_of(shape: Shape) -> tuple[str, ...]:
    """The names of a shape's dimensions: its layout's, else the plain ones (D1, D2, ... beyond rank 3)."""
    return getattr(shape, "names", None) or _PLAIN.get(len(shape)) or tuple(f"D{i + 1}" for i in range(len(shape)))


def with_names(dims, names: tuple[str, ...]) -> Shape:
    """`dims` as a shape with these names (a plain tuple where they are the plain ones)."""
    dims = tuple(dims)
    return dims if _PLAIN.get(len(dims)) == tuple(names) else Layout(dims, names)


def last_dim_layout(shape: Shape) -> bool:
    """Whether the last dimension is the features one: [F], tokens [L, D], channels-last [H, W, C]."""
    return len(shape) == 1 or isinstance(shape, Layout) and shape.names[-1] in ("D", "C")


def describe(shape: Shape) -> str:
    """'[N, 196, 768] (tokens [N, L, D])' for messages; plain shapes name their dims too."""
    names = names_of(shape)
    word = _WORDS.get(names, "")
    return f"{fmt_shape(shape)} ({word + ' ' if word else ''}[N, {', '.join(names)}])"


def dim_index(op: str, dim: int, shape: Shape, what: str = "dim") -> int:
    """The index in `shape` (which excludes the batch) of the torch dim `dim` of the batched tensor.

    The convention of every `dim` attribute: the batch is dim 0 and cannot be the target; negative dims
    count from the end as in torch (-1 is the last).
    """
    rank = len(shape) + 1
    position = dim + rank if dim < 0 else dim
    if not 0 <= position < rank:
        raise ShapeError(f"{op} {what} {dim} is out of range for the {rank}-d input {describe(shape)}",
                         f"dims count the batch as 0 and negative ones from the end: use 1..{rank - 1} "
                         f"or -{rank - 1}..-1")
    if position == 0:
        raise ShapeError(f"{op} {what} {dim} is the batch dimension of {describe(shape)}",
                         "dims count the batch as 0; it stays where it is, so use 1 or later")
    return position - 1


def reordered(shape: Shape, moved: tuple[int, ...]) -> Shape:
    """`shape` with its dims in the order `moved` (indices without the batch), named after the move:
    [C, L] transposed is tokens [L, D], tokens transposed are [C, L] again."""
    names = names_of(shape)
    new_names = tuple(names[d] for d in moved)
    if names == ("C", "L") and new_names == ("L", "C"):
        new_names = TOKENS
    elif names == TOKENS and new_names == ("D", "L"):
        new_names = ("C", "L")
    return with_names((shape[d] for d in moved), new_names)


def _permute_infer(attrs, inputs):
    (shape,) = inputs
    rank = len(shape) + 1
    for d in attrs["dims"]:
        if not -rank <= d < rank:
            raise ShapeError(f"permute dim {d} is out of range for the {rank}-d input {describe(shape)}",
                             f"dims count the batch as 0 and negative ones from the end: -{rank}..{rank - 1}")
    dims = [d % rank for d in attrs["dims"]]
    if sorted(dims) != list(range(rank)):
        raise ShapeError(f"permute dims {list(attrs['dims'])} are not a permutation of 0..{rank - 1} for the "
                         f"{rank}-d input {describe(shape)}", "list every dimension once, the batch as 0")
    if dims[0] != 0:
        raise ShapeError(f"permute dims {list(attrs['dims'])} move the batch dimension",
                         "keep 0 first: the batch stays first")
    return Inferred(reordered(shape, tuple(d - 1 for d in dims[1:])))


PERMUTE = Op(
    "permute",
    "reorder dimensions (torch.permute); dims count the batch as 0 and keep it first",
    _permute_infer,
    {"dims": Attr("ints", doc="the new order, e.g. [0, 2, 3, 1] for [C, H, W] -> channels-last [H, W, C]")},
    lower=Module(lambda attrs, inputs: Call("archc.nn.layers.Permute", (attrs["dims"],))),
    label=lambda attrs: f"permute {list(attrs['dims'])}",
    example=Example({"dims": [0, 2, 3, 1]}, [(3, 8, 8)]),
    memory=VIEW,
)


def _select_infer(attrs, inputs):
    (shape,) = inputs
    dim, index = attrs["dim"], attrs["index"]
    k = dim_index("select", dim, shape)
    size = shape[k]
    if not -size <= index < size:
        raise ShapeError(f"select index {index} is out of range for size {size} along dim {dim} of {describe(shape)}")
    names = names_of(shape)
    kept = tuple(j for j in range(len(shape)) if j != k)
    rest = tuple(names[j] for j in kept)
    return Inferred(with_names((shape[j] for j in kept), ("F",) if rest in (("D",), ("C",)) else rest))


SELECT = Op(
    "select",
    "one position along a dimension, which disappears (x.select(dim, index); ViT's class token: dim 1, index 0)",
    _select_infer,
    {"dim": Attr("int", doc="the dimension, counting the batch as 0 (negative: from the end)"),
     "index": Attr("int", 0, "the position (negative counts from the end)")},
    lower=Module(lambda attrs, inputs: Call("archc.nn.layers.Select", (attrs["dim"], attrs["index"]))),
    label=lambda attrs: f"select {attrs['index']} of dim {attrs['dim']}",
    example=Example({"dim": 1, "index": 0}, [Layout((5, 6), TOKENS)]),
    memory=VIEW,
)


def _transpose_infer(attrs, inputs):
    (shape,) = inputs
    a, b = (dim_index("transpose", attrs[key], shape, key) for key in ("dim0", "dim1"))
    order = list(range(len(shape)))
    order[a], order[b] = b, a
    return Inferred(reordered(shape, tuple(order)))


TRANSPOSE = Op(
    "transpose",
    "swap two dimensions (x.transpose(dim0, dim1)); dims count the batch as 0, which stays first",
    _transpose_infer,
    {"dim0": Attr("int", doc="one dimension (the batch is 0; negative: from the end)"),
     "dim1": Attr("int", doc="the other dimension")},
    lower=Function(lambda attrs, args: f"{args[0]}.transpose({attrs['dim0']}, {attrs['dim1']})"),
    label=lambda attrs: f"transpose {attrs['dim0']}, {attrs['dim1']}",
    example=Example({"dim0": 1, "dim1": -1}, [(3, 4, 5)]),
    memory=VIEW,
)


def _range_text(attrs) -> str:
    """The slice as Python writes it: `0::2`, `:4`, `-3:`."""
    start, stop, step = attrs["start"], attrs["stop"], attrs["step"]
    text = f"{start if start or step != 1 else ''}:{'' if stop is None else stop}"
    return text + (f":{step}" if step != 1 else "")


def _slice_infer(attrs, inputs):
    (shape,) = inputs
    k = dim_index("slice", attrs["dim"], shape)
    size = len(range(*slice(attrs["start"], attrs["stop"], attrs["step"]).indices(shape[k])))
    if not size:
        raise ShapeError(f"slice [{_range_text(attrs)}] of dim {attrs['dim']} (size {shape[k]}) of {describe(shape)} "
                         "selects nothing", "start and stop count from 0 (negative: from the end); stop is exclusive")
    return Inferred(with_names((*shape[:k], size, *shape[k + 1:]), names_of(shape)))


def _slice_code(attrs, args) -> str:
    """`x[:, 1::2]` for dim 1, `x[..., 1::2, :]` for dim -2: the subscript torch code writes."""
    dim = attrs["dim"]
    lead, trail = ("..., ", ", :" * (-dim - 1)) if dim < 0 else (":, " * dim, "")
    return f"{args[0]}[{lead}{_range_text(attrs)}{trail}]"


SLICE = Op(
    "slice",
    "positions start:stop:step along a dimension (torch slicing, e.g. Swin's x[:, 0::2]); the batch is dim 0",
    _slice_infer,
    {"dim": Attr("int", doc="the dimension, counting the batch as 0 (negative: from the end)"),
     "start": Attr("int", 0, "first position (negative counts from the end)"),
     "stop": Attr("int", None, "end, exclusive (negative counts from the end); default: the end"),
     "step": Attr("pos_int", 1, "stride between positions")},
    lower=Function(_slice_code),
    label=lambda attrs: f"slice [{_range_text(attrs)}] of dim {attrs['dim']}",
    example=Example({"dim": -2, "start": 1, "step": 2}, [(3, 8, 6)]),
    memory=VIEW,
)
OPS = [PERMUTE, SELECT, TRANSPOSE, SLICE]
