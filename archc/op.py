"""The public op API, for plugins and built-in ops alike (see docs/ops.md).

    from archc.op import Attr, Call, Example, Function, Inferred, Init, Memory, Module, Op, Saved, ShapeError, saves
"""

from .ops import (VIEW, Attr, Call, Draw, Example, Function, Inferred, Init, Memory, Module, Op, Saved, ShapeError,
                  Tensor, fmt_shape, nn, numel, saves)
from .ops.base import expect_rank

__all__ = ["VIEW", "Attr", "Call", "Draw", "Example", "Function", "Inferred", "Init", "Memory", "Module", "Op",
           "Saved", "ShapeError", "Tensor", "expect_rank", "fmt_shape", "nn", "numel", "saves"]
