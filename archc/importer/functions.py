"""The few torch functions a traced forward calls in place of modules, as archc ops.

Each entry gives the op, the layer name archc's bundled specs use for it (a function has no module
path of its own), and how to read its attributes from the call's arguments.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F


def _arg(args, kwargs, index, name, default):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _unless(default, **attrs) -> dict:
    """The attributes whose value is not `default` (a spec leaves defaults out)."""
    return {k: v for k, v in attrs.items() if v != default}


FUNCTIONS = {
    operator.add: ("add", None, None),
    operator.iadd: ("add", None, None),
    torch.add: ("add", None, None),
    torch.cat: ("concat", None, None),
    torch.flatten: ("flatten", "flatten", lambda a, k: {"start": _arg(a, k, 1, "start_dim", 0),
                                                        **_unless(-1, end=_arg(a, k, 2, "end_dim", -1))}),
    torch.relu: ("relu", "relu", lambda a, k: {}),
    F.relu: ("relu", "relu", lambda a, k: {}),
    F.adaptive_avg_pool2d: ("adaptive_avgpool", "avgpool", lambda a, k: {"out": _arg(a, k, 1, "output_size", None)}),
}
"""function -> (op, layer name, attributes from (args, kwargs)); merges have no name, and their attributes
come from `merge_attrs`."""


def merge_attrs(op: str, args, kwargs) -> dict:
    """The attributes of a merge's call: torch.cat's dim where it is not the channels (archc's default)."""
    return _unless(1, dim=_arg(args, kwargs, 1, "dim", 0)) if op == "concat" else {}
