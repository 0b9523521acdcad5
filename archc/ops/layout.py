"""Shapes with named dimensions, and the ops that move dimensions around (permute).

Shapes exclude the batch. A plain shape means [C, H, W] (images), [C, L] (sequences) or [F]
(features); a `Layout` shape says that its dimensions mean something else: tokens [L, D] or
channels-last [H, W, C]. Ops that work on the last dimension (linear, layer norm) accept these,
and ops that keep the shape keep the layout (they return the same value).
"""

from __future__ import annotations

from .api import VIEW, Call, Example, Module, Op
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


def _permute_infer(attrs, inputs):
    (shape,) = inputs
    dims, rank = attrs["dims"], len(shape) + 1
    if sorted(dims) != list(range(rank)):
        raise ShapeError(f"permute dims {list(dims)} are not a permutation of 0..{rank - 1} for the "
                         f"{rank}-d input {describe(shape)}", "list every dimension once, the batch as 0")
    if dims[0] != 0:
        raise ShapeError(f"permute dims {list(dims)} move the batch dimension", "keep 0 first: the batch stays first")
    names = names_of(shape)
    moved = tuple(dims[k] - 1 for k in range(1, rank))
    new_names = tuple(names[d] for d in moved)
    if names == ("C", "L") and new_names == ("L", "C"):
        new_names = TOKENS
    elif names == TOKENS and new_names == ("D", "L"):
        new_names = ("C", "L")
    return Inferred(with_names((shape[d] for d in moved), new_names))


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
    if not 1 <= dim <= len(shape):
        raise ShapeError(f"select dim {dim} is out of range for {describe(shape)}",
                         "dims count the batch as 0; the batch cannot be selected")
    size = shape[dim - 1]
    if not -size <= index < size:
        raise ShapeError(f"select index {index} is out of range for size {size} along dim {dim} of {describe(shape)}")
    names = names_of(shape)
    kept = tuple(k for k in range(len(shape)) if k != dim - 1)
    rest = tuple(names[k] for k in kept)
    return Inferred(with_names((shape[k] for k in kept), ("F",) if rest in (("D",), ("C",)) else rest))


SELECT = Op(
    "select",
    "one position along a dimension, which disappears (x.select(dim, index); ViT's class token: dim 1, index 0)",
    _select_infer,
    {"dim": Attr("pos_int", doc="the dimension, counting the batch as 0"),
     "index": Attr("int", 0, "the position (negative counts from the end)")},
    lower=Module(lambda attrs, inputs: Call("archc.nn.layers.Select", (attrs["dim"], attrs["index"]))),
    label=lambda attrs: f"select {attrs['index']} of dim {attrs['dim']}",
    example=Example({"dim": 1, "index": 0}, [Layout((5, 6), TOKENS)]),
    memory=VIEW,
)
OPS = [PERMUTE, SELECT]
