"""The op API: one value holds everything archc knows about an op.

Built-in ops (the other modules of this package) and users' plugins use the same API::

    from archc.op import Attr, Call, Example, Inferred, Module, Op, saves

    def infer(attrs, inputs):                   # shapes exclude the batch: (C, H, W), (F,), ...
        (c, h, w), = inputs
        return Inferred((c, h, w), params=2 * c)

    SCALE = Op("scale", "a learned per-channel scale and shift", infer,
               attrs={"eps": Attr("pos_float", 1e-5)},
               lower=Module(lambda attrs, inputs: Call("my_ops.Scale", (inputs[0][0],), {"eps": attrs["eps"]})),
               example=Example({"eps": 1e-3}, [(4, 8, 8)]),
               memory=saves("input"))             # what autograd keeps for backward (archc memory)

Every backend (torch module, Python source, Graphviz, ONNX, memory) reads only the IR and these
values; nothing else keeps a table keyed by op name. Importing this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .base import Attr, Inferred, Shape

Infer = Callable[[dict, list[Shape]], Inferred]


@dataclass(frozen=True)
class Call:
    """A call that makes a torch module: `target(*args, **kwargs)`.

    `target` is a dotted import path (`"torch.nn.Conv2d"`, `"my_ops.SqueezeExcite"`) or the class
    itself. The torch backend imports and calls it; the Python-source backend writes it out,
    leaving out keyword arguments equal to the target's own defaults.
    """

    target: str | type
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Module:
    """Lowering to a module: `call(attrs, input_shapes)` gives the Call that constructs it.

    `inplace`: the module takes `inplace=True` and may then overwrite its input (ReLU); archc sets
    it only where the input dies at this layer and its producer does not need it for backward.
    `factory`: the module takes `device=` (large conv/linear layers are made on the meta device
    when an `init:` rule replaces torch's default initialisation).
    """

    call: Callable[[dict, list[Shape]], Call]
    inplace: bool = False
    factory: bool = False


@dataclass(frozen=True)
class Function:
    """Lowering to an expression in `forward` (no module, no parameters).

    `code(attrs, args)` is a Python expression over the input variable names `args` that uses only
    `torch` (e.g. `torch.cat([x, y], 1)`); `inplace(attrs, args)` optionally gives a statement that
    computes the same value into `args[0]` (e.g. `x += y`), or None where that is not possible.
    """

    code: Callable[[dict, list[str]], str]
    inplace: Callable[[dict, list[str]], str | None] | None = None


@dataclass(frozen=True)
class Tensor:
    """Lowering to a learnable tensor (an nn.Parameter, no module) used by an expression in `forward`.

    The enclosing module level holds it under the node's name, so its state_dict key is
    `level.name` (ConvNeXt's `features.1.0.layer_scale`, ViT's `class_token`).
    `shape(attrs, input_shapes)`: the tensor's shape; `fill(attrs)`: its initial value as a
    `torch.nn.init` scheme and arguments (`("constant", {"val": 1e-6})`); `code(attrs, args, tensor)`:
    the forward expression over the input variables `args` and `tensor`, the expression naming it.
    """

    shape: Callable[[dict, list[Shape]], tuple[int, ...]]
    fill: Callable[[dict], tuple[str, dict]]
    code: Callable[[dict, list[str], str], str]
    inplace = False  # never takes `inplace=`


@dataclass(frozen=True)
class Init:
    """How an op's parameters take the spec's `init:` rules.

    `tensors`: the parameter names rules may set (dotted for a submodule's: `"fc1.weight"`).
    `defaults`: rules that restate what the module's constructor already does
    (`{"weight": ("constant", {"val": 1.0})}`), skipped as wasted work. `classes`: the module
    classes, as Python source, for emitted torchvision-style init loops (`"nn.Conv2d"`; default: the
    class the lowering's Call names). `default_bias`: torch's default init is kaiming_uniform(a=sqrt(5)) on the
    weight and uniform(+-1/sqrt(fan_in)) on the bias (conv, linear), so archc may skip the weight's
    default draw for large layers and redo the bias alone. `vectors`: the tensors of one dimension.
    `having(attrs)`: where a layer's tensors depend on its attributes (Swin v1's bias table, v2's bias
    MLP), those of `tensors` that a layer with these attributes has (default: all).
    """

    tensors: tuple[str, ...] = ("weight", "bias")
    defaults: dict = field(default_factory=dict)
    classes: str = ""
    default_bias: bool = False
    vectors: tuple[str, ...] = ("bias",)  # the 1-d tensors: fan-based schemes (kaiming, xavier) cannot set them
    having: Callable[[dict], tuple[str, ...]] | None = None

    def of(self, attrs: dict) -> tuple[str, ...]:
        """The tensors a layer with these attributes has."""
        return self.tensors if self.having is None else self.having(attrs)


@dataclass(frozen=True)
class Draw:
    """How Graphviz draws the op: fill colour and node shape."""

    fill: str = "#f3f3f3"
    shape: str = "box"


@dataclass(frozen=True)
class Saved:
    """One tensor autograd keeps for the backward of an op (see `Memory`).

    `of`: `"input"` (input 0), `"input1"`, ... or `"output"`, which are values of the graph (a
    storage shared with another value is counted once), or the name of a buffer the op makes
    itself (`"indices"`, `"mask"`), whose size is `numel` elements per sample (in all, with
    `batched=False`) of `dtype`: `"act"` (the activations' dtype), `"float32"`, `"int64"`,
    `"bool"`, `"mask"` (dropout's mask: bool on CUDA, the activations' dtype on CPU) or `"stats"` (batch
    norm's saved mean and invstd: float32 on CUDA, the activations' dtype on CPU).
    """

    of: str = "input"
    numel: int = 0
    dtype: str = "act"
    batched: bool = True


@dataclass(frozen=True)
class Memory:
    """What an op costs in memory, for `archc memory` (no torch needed).

    `saved(attrs, input_shapes, output_shape)`: the tensors autograd saves for backward in train
    mode, as `Saved` values (parameters and buffers are not listed). `view`: the output shares
    input 0's storage (flatten, identity), or `view(attrs, training)` says when it does (dropout
    returns its input in eval mode). `scratch(attrs, input_shapes, output_shape)`: the buffers an
    eval-mode forward holds besides its inputs and output at its peak, as `Saved` buffers (max
    pooling's indices; the padded squares of local response norm, written as several torch calls).
    An op of many torch calls whose peak moves with the batch (attention: a per-sample point and one
    of buffers held once per batch) returns a list of such tuples, one per point of its forward that
    may be the peak; the largest at the batch asked for counts.
    """

    saved: Callable[[dict, list[Shape], Shape], tuple[Saved, ...]]
    view: bool | Callable[[dict, bool], bool] = False
    scratch: Callable[[dict, list[Shape], Shape], tuple[Saved, ...]] | None = None

    def is_view(self, attrs: dict, training: bool) -> bool:
        return self.view(attrs, training) if callable(self.view) else self.view


@dataclass(frozen=True)
class Example:
    """A small valid use of the op: `attrs` as a spec writes them, and the shapes (without the batch)
    of its inputs, one per input (two or more for a merge).

    The completeness test (tests/test_op_completeness.py) makes a spec of it and takes it through
    every backend; keep it tiny (a few channels, 8x8 images) so that runs fast.
    """

    attrs: dict = field(default_factory=dict)
    inputs: tuple[Shape, ...] = ()


@dataclass(frozen=True)
class Op:
    """One op: its attributes, shape rule, traits and torch lowering.

    - `infer(attrs, input_shapes)` returns the output shape, parameter count and MACs (raise
      `ShapeError(message, hint)` for inputs the op cannot take);
    - `attrs`: name -> Attr (kind, default, doc), checked before `infer` runs;
    - `lower`: `Module(...)`, `Function(...)` or `Tensor(...)`;
    - `label(attrs)`: short text for diagrams and tables (default: the name);
    - `merge`: takes several branches (`add: {a: [...], b: [...]}`) or several `from` inputs;
    - `inplace_safe`: backward does not need this op's output, so a following in-place op may
      overwrite it (conv, batchnorm, add, ...);
    - `init`: how `init:` rules apply (None: the op has no rules);
    - `draw`: its look in diagrams;
    - `example`: a small valid use (`Example(attrs, input_shapes)`) that the completeness test
      takes through every backend; every built-in op has one;
    - `memory`: what autograd saves for its backward and whether its output is a view (`Memory`,
      usually `saves("input")`, `saves("output")`, `saves()` or `VIEW`); `archc memory` refuses
      graphs with an op that has none, and a test requires it of every registered op;
    - `plugin`: where a user's op came from (set by archc when it loads a plugin).
    """

    name: str
    doc: str
    infer: Infer
    attrs: dict[str, Attr] = field(default_factory=dict)
    lower: Module | Function | Tensor | None = None
    label: Callable[[dict], str] | None = None
    merge: bool = False
    inplace_safe: bool = False
    init: Init | None = None
    draw: Draw = Draw()
    example: Example | None = None
    memory: Memory | None = None
    plugin: str | None = None

    def describe(self, attrs: dict) -> str:
        return self.label(attrs) if self.label else self.name

    @property
    def functional(self) -> bool:
        return isinstance(self.lower, Function)

    @property
    def tensor(self) -> bool:
        return isinstance(self.lower, Tensor)


def nn(name: str, *args, **kwargs) -> Call:
    """A Call of `torch.nn.<name>`, the usual lowering of a built-in op."""
    return Call(f"torch.nn.{name}", args, kwargs)


def simple_module(name: str, kwargs: Callable[[dict], dict] = lambda attrs: {}, **traits) -> Module:
    """Lowering to `torch.nn.<name>(**kwargs(attrs))`, for modules whose arguments need no input shape."""
    return Module(lambda attrs, inputs: nn(name, **kwargs(attrs)), **traits)


def saves(*tensors: str) -> Memory:
    """A Memory trait saving graph values for backward: `saves("input")` (conv), `saves("output")`
    (relu, tanh), `saves("input", "input1")`, `saves()` (nothing: add, concat)."""
    kept = tuple(Saved(of) for of in tensors)
    return Memory(lambda attrs, inputs, output: kept)


VIEW = Memory(lambda attrs, inputs, output: (), view=True)  # output shares input 0's storage, nothing saved


__all__ = ["VIEW", "Attr", "Call", "Draw", "Example", "Function", "Inferred", "Init", "Memory", "Module", "Op", "Saved", "Tensor",
           "nn", "saves", "simple_module"]
