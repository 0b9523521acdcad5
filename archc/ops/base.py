"""Attributes, shapes and shape errors: the vocabulary of op definitions (see api.py for the Op itself).

Shapes exclude the batch dimension, which is always symbolic: (C, H, W) for
images, (F,) for features.
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from functools import cached_property
from typing import Any

Shape = tuple[int, ...]
REQUIRED = object()


class ShapeError(Exception):
    """An op cannot accept its input; carries a hint for the user."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class AttrError(Exception):
    """An attribute value has the wrong type or range."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Attr:
    """An op attribute: its kind (see `coerce`), default and description."""

    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @cached_property
    def normal_default(self):
        """The default as `coerce` normalises it (None stays None)."""
        return self.default if self.default is None else coerce(self.kind, self.default, self.choices)


@dataclass(frozen=True)
class Inferred:
    shape: Shape
    params: int = 0
    macs: int = 0


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(value, choices):
    if _is_int(value):
        return value
    raise AttrError(f"expected an integer, found {_show(value)}")


def _pos_int(value, choices):
    if _is_int(value) and value >= 1:
        return value
    raise AttrError(f"expected a positive integer, found {_show(value)}")


def _nonneg_int(value, choices):
    if _is_int(value) and value >= 0:
        return value
    raise AttrError(f"expected an integer >= 0, found {_show(value)}")


def _pair_of(low: int):
    def pair_kind(value, choices):
        pair = (value, value) if _is_int(value) else tuple(value) if isinstance(value, (list, tuple)) else None
        if pair is None or len(pair) != 2 or not all(_is_int(v) and v >= low for v in pair):
            what = "a positive integer" if low else "an integer >= 0"
            raise AttrError(f"expected {what} or a pair [h, w] of them, found {_show(value)}")
        return pair
    return pair_kind


_pair, _nonneg_pair = _pair_of(1), _pair_of(0)


def _ints(value, choices):
    if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
        return tuple(value)
    raise AttrError(f"expected a list of integers, found {_show(value)}")


def _padding(value, choices):
    return value if value in ("same", "valid") else _nonneg_pair(value, choices)


def _float(value, choices):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise AttrError(f"expected a finite number, found {_show(value)}")


def _pos_float(value, choices):
    value = _float(value, choices)
    if value > 0:
        return value
    raise AttrError(f"expected a number > 0, found {value}")


def _prob(value, choices):
    value = _float(value, choices)
    if 0.0 <= value <= 1.0:
        return value
    raise AttrError(f"expected a probability in [0, 1], found {value}")


def _bool(value, choices):
    if isinstance(value, bool):
        return value
    raise AttrError(f"expected true or false, found {_show(value)}")


def _choice(value, choices):
    if value in choices:
        return value
    raise AttrError(f"expected one of {', '.join(map(str, choices))}, found {_show(value)}")


_COERCE = {
    "int": _int, "pos_int": _pos_int, "nonneg_int": _nonneg_int, "pair": _pair, "nonneg_pair": _nonneg_pair,
    "padding": _padding, "float": _float, "pos_float": _pos_float, "prob": _prob, "bool": _bool, "choice": _choice,
    "ints": _ints,
}


def coerce(kind: str, value, choices: tuple = ()):
    """Check and normalise an attribute value of the given kind."""
    if kind not in _COERCE:
        raise AssertionError(f"unknown attribute kind {kind}")
    return _COERCE[kind](value, choices)


def _show(value) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "null"
    return str(value)


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def fmt_shape(shape: Shape) -> str:
    return "[N, " + ", ".join(map(str, shape)) + "]" if shape else "[N]"


def expect_rank(op: str, shape: Shape, rank: int, hint: str | None = None) -> None:
    if len(shape) != rank:
        dims = {3: "[N, C, H, W]", 1: "[N, F]", 2: "[N, C, L]"}[rank]
        raise ShapeError(f"{op} expects a {rank + 1}-d input {dims}, got {fmt_shape(shape)}", hint)


def single(inputs: list[Shape]) -> Shape:
    return inputs[0]
