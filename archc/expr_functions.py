"""The functions spec expressions may call: a fixed table, each bounded in time and memory (a range or a
result is never longer than limits.MAX_LIST_LEN, an integer power never wider than limits.MAX_INT_BITS)."""

from __future__ import annotations

import itertools
import math
import reprlib

from . import limits
from .errors import ExprError


def _bounded_range(*args):
    result = range(*args)
    if len(result) > limits.MAX_LIST_LEN:
        raise ExprError(f"range of {len(result)} items is larger than the limit {limits.MAX_LIST_LEN}")
    return list(result)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"the result {value} is not a finite number")
    return value


def _log(x, base=math.e):
    if x <= 0 or base <= 0 or base == 1:
        raise ExprError(f"log({x}, {base}) is undefined", hint="log needs x > 0 and a base > 0 other than 1")
    return math.log(x, base)


def _exp(x):
    if x > 709:
        raise ExprError(f"exp({x}) is too large")
    return math.exp(x)


def _sqrt(x):
    if x < 0:
        raise ExprError(f"sqrt({x}) of a negative number")
    return math.sqrt(x)


def _pow(base, exponent):
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0 \
            and exponent * (abs(base).bit_length() - 1) > limits.MAX_INT_BITS:
        raise ExprError(f"pow({base}, {exponent}) is too large")
    return _finite(float(base) ** exponent if isinstance(base, float) or isinstance(exponent, float)
                   else base ** exponent)


def _make_divisible(value, divisor, min_value=None):
    """torchvision's channel rounding (MobileNet, EfficientNet): the nearest multiple of `divisor`,
    at least `min_value` (default `divisor`), never more than 10% below `value`."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


MAX_NDIGITS = 400  # beyond this, rounding a 64-bit integer or a float changes nothing more


def _bounded_round(number, ndigits=None):
    """round(), with `ndigits` clamped: round(5, -10**18) would compute 10**(10**18) first."""
    if ndigits is None:
        return round(number)
    if not isinstance(ndigits, int):
        raise ExprError(f"round's second argument must be an integer, found {ndigits!r}")
    return round(number, max(-MAX_NDIGITS, min(MAX_NDIGITS, ndigits)))


def _runs(items):
    """Run-length encoding: [[value, count], ...], one pair per run of equal consecutive items."""
    if not isinstance(items, list):
        raise ExprError(f"runs() takes a list, found {reprlib.repr(items)}")
    return [[value, sum(1 for _ in run)] for value, run in itertools.groupby(items)]


def _zip(*lists):
    """zip() of lists, as a list of lists (the language has no tuples); as long as the shortest."""
    if not all(isinstance(x, list) for x in lists):
        raise ExprError("zip() takes lists", hint="zip(widths, depths)")
    return [list(items) for items in zip(*lists)]


def _linear_sum(items, start=0):
    """sum(), in linear time for lists of lists (sum's own concatenation copies the total each step)."""
    items = list(items)
    if isinstance(start, list) and all(isinstance(i, list) for i in items):
        return list(itertools.chain(start, *items))
    return sum(items, start)


FUNCTIONS = {
    "floor": math.floor,
    "ceil": math.ceil,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _bounded_round,
    "int": int,
    "float": float,
    "len": len,
    "sum": _linear_sum,
    "range": _bounded_range,
    "zip": _zip,
    "runs": _runs,
    "log": _log,
    "exp": _exp,
    "sqrt": _sqrt,
    "pow": _pow,
    "make_divisible": _make_divisible,
}
