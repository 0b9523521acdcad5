"""Many equal layers made fast: one prototype per distinct layer, copied without nn.Module.__init__.

A torch constructor costs ~0.1 ms in Python (`__init__`, a dozen `__setattr__`), and twice that
under `with torch.device("meta")`; a spec of 50,000 convs spent most of its build there. A copy
shares nothing mutable with its prototype: its own parameter, buffer, module and hook dicts, and
fresh tensors. In a real build those are allocated empty and `reset_parameters()` fills them as the
constructor would (the same calls in the same order, so seeded builds draw the same weights); so
only classes whose constructor is exactly "allocate, then reset_parameters()" are copied with their
parameters (convolutions, linear, batch norm), besides any class with no parameters or buffers.
Prototypes are made on the meta device, which draws no random numbers, and kept for the process
(`_MADE`, bounded): making one costs ~0.3 ms (a constructor under `torch.device("meta")`), and a
MobileNet or RegNet has 40-60 distinct layers, so a second build of a spec copies them all.
"""

from __future__ import annotations

import torch
from torch import nn

from .lowering import resolve

# Exactly these classes (not subclasses, whose constructors may do more): "allocate, then reset_parameters()".
RESETTABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
              nn.LayerNorm, nn.GroupNorm)


def _copyable(module: nn.Module) -> bool:
    if module._modules or any(value for key, value in vars(module).items() if "hook" in key):
        return False  # children, or hooks (bound to the prototype) set up by the constructor
    if not module._parameters and not module._buffers:
        return True
    return type(module) in RESETTABLE


def _mutable(proto: nn.Module) -> tuple[str, ...]:
    """The prototype's attributes that a copy needs its own of (dicts, sets and lists)."""
    return tuple(key for key, value in vars(proto).items() if isinstance(value, (dict, set, list)))


def _copy(proto: nn.Module, mutable: tuple[str, ...], meta: bool) -> nn.Module:
    module = object.__new__(type(proto))
    state = module.__dict__
    state.update(proto.__dict__)
    for key in mutable:
        state[key] = state[key].copy()
    device = "meta" if meta else None  # None: torch's default device (meta inside a torch.device("meta") block)
    for name, tensor in proto._parameters.items():  # torch.empty: empty_like on meta is a slow Python ref
        if tensor is not None:
            module._parameters[name] = nn.Parameter(torch.empty(tensor.shape, dtype=tensor.dtype, device=device),
                                                    tensor.requires_grad)
    for name, tensor in proto._buffers.items():
        if tensor is not None:
            module._buffers[name] = torch.empty(tensor.shape, dtype=tensor.dtype, device=device)
    if not meta and (module._parameters or module._buffers):
        module.reset_parameters()
    return module


_MAX_MADE = 4096  # distinct layers kept (meta modules: no tensor memory); the oldest go first
# (class, arguments, default dtype) -> (prototype, its mutable attributes), or None: not copyable
_MADE: dict[tuple, tuple[nn.Module, tuple[str, ...]] | None] = {}


class Prototypes:
    """Makes each layer as a copy of the prototype for its constructor call (built-in ops only).

    `meta`: the whole build is on the meta device (structure only).
    """

    def __init__(self, meta: bool = False):
        self.meta = meta

    def module(self, call, make, factory: dict) -> nn.Module:
        """The module `make()` would give for the constructor `call` (`factory`: make's kwargs)."""
        meta = self.meta or factory.get("device") == "meta"
        key = (resolve(call.target), repr((call.args, sorted(call.kwargs.items()), sorted(factory.items()))),
               torch.get_default_dtype())
        if key not in _MADE:
            with torch.device("meta"):
                proto = make()
            if len(_MADE) >= _MAX_MADE:
                del _MADE[next(iter(_MADE))]
            _MADE[key] = (proto, _mutable(proto)) if _copyable(proto) else None
        made = _MADE[key]
        if made is not None:
            return _copy(*made, meta)
        if meta:
            with torch.device("meta"):
                return make()
        return make()
