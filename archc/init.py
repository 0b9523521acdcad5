"""Parameter initialisation per layer kind: the spec's `init:` section.

    init:
      conv: {weight: {kaiming_normal: {mode: fan_out, nonlinearity: relu}}, bias: 0}
      linear: xavier_uniform          # shorthand for {weight: xavier_uniform}
      batchnorm: {weight: 1, bias: 0}

A tensor rule is a number (constant), a scheme name, or `{scheme: {args}}`
(torch.nn.init's schemes and argument names). Tensors without a rule keep
torch's default initialisation. Importing this module does not import torch.
"""

from __future__ import annotations

KINDS = ("conv", "linear", "batchnorm")
TENSORS = ("weight", "bias")
_NUMBER = {"type": "number"}
_MODE = {"enum": ["fan_in", "fan_out"]}
_NONLINEARITY = {"enum": ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]}
SCHEMES: dict[str, dict] = {
    "default": {},
    "zeros": {},
    "ones": {},
    "constant": {"val": _NUMBER},
    "uniform": {"a": _NUMBER, "b": _NUMBER},
    "normal": {"mean": _NUMBER, "std": _NUMBER},
    "trunc_normal": {"mean": _NUMBER, "std": _NUMBER, "a": _NUMBER, "b": _NUMBER},
    "xavier_uniform": {"gain": _NUMBER},
    "xavier_normal": {"gain": _NUMBER},
    "kaiming_uniform": {"a": _NUMBER, "mode": _MODE, "nonlinearity": _NONLINEARITY},
    "kaiming_normal": {"a": _NUMBER, "mode": _MODE, "nonlinearity": _NONLINEARITY},
    "orthogonal": {"gain": _NUMBER},
}


def schema() -> dict:
    """The JSON Schema of the `init:` section."""
    scheme_with_args = {
        "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
        "description": "{scheme: {arguments}}, e.g. {kaiming_normal: {mode: fan_out, nonlinearity: relu}}",
        "properties": {name: {"type": ["object", "null"], "properties": args, "additionalProperties": False}
                       for name, args in SCHEMES.items()},
    }
    tensor = {
        "if": {"type": "number"}, "then": {"description": "a constant"},
        "else": {"if": {"type": "string"}, "then": {"enum": list(SCHEMES)}, "else": scheme_with_args},
    }
    kind = {
        "if": {"type": "object"},
        "then": {"properties": {t: {"$ref": "#/$defs/init_tensor"} for t in TENSORS},
                 "additionalProperties": False},
        "else": {"$ref": "#/$defs/init_tensor"},
    }
    return {
        "section": {"type": "object", "description": "initialisation per layer kind (torch defaults otherwise)",
                    "properties": {k: {"$ref": "#/$defs/init_kind"} for k in KINDS}, "additionalProperties": False},
        "defs": {"init_tensor": tensor, "init_kind": kind},
    }


def tensor_rule(raw) -> tuple[str, dict]:
    """A schema-checked tensor rule as (scheme, arguments)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return "constant", {"val": float(raw)}
    if isinstance(raw, str):
        return raw, {}
    ((scheme, args),) = raw.items()
    return str(scheme), dict(args or {})


def kind_rules(raw) -> dict[str, tuple[str, dict]]:
    """A schema-checked kind rule as {tensor name: (scheme, arguments)}, without `default` entries."""
    rules = {str(k): tensor_rule(v) for k, v in raw.items()} if isinstance(raw, dict) else {"weight": tensor_rule(raw)}
    return {name: rule for name, rule in rules.items() if rule[0] != "default"}


# Rules that restate what torch's constructor already does; applying them again is wasted work.
_TORCH_DEFAULTS = {"batchnorm": {"weight": ("constant", {"val": 1.0}), "bias": ("constant", {"val": 0.0})}}
_CONSTANT_SCHEMES = {"ones": ("constant", {"val": 1.0}), "zeros": ("constant", {"val": 0.0})}

# Below this many parameters, torch's default init costs less than making the layer on the meta
# device and allocating it afterwards (measured: ~25k floats on CPU), so small layers are made normally.
SKIP_DEFAULT_INIT_FROM = 32768
# Kinds whose op's module() takes `device=` and whose default bias init is `default_bias_`
# (batch norm is always made normally: its running statistics are buffers with fixed defaults).
_SKIPPABLE_KINDS = ("conv", "linear")


def _restates_default(kind: str, tensor: str, rule: tuple[str, dict]) -> bool:
    return _CONSTANT_SCHEMES.get(rule[0], rule) == _TORCH_DEFAULTS.get(kind, {}).get(tensor)


class Initializer:
    """Creates each layer's module and applies the spec's rule for its kind."""

    def __init__(self, section: dict | None):
        self.rules = {}
        for kind, raw in (section or {}).items():
            rules = {t: r for t, r in kind_rules(raw).items() if not _restates_default(str(kind), t, r)}
            if rules:
                self.rules[str(kind)] = rules

    def create(self, kind: str, params: int, make):
        """`make(device=None)` builds the module (`params`: its parameter count).

        Where a rule sets the weight of a large conv or linear layer, torch's default init (a uniform
        draw as large as the weight) is skipped: the module is made on the meta device and allocated,
        the rules run, and a bias without a rule gets torch's default (`default_bias_`). Which path a
        layer takes depends on the spec alone, so seeded builds stay reproducible.
        """
        rules = self.rules.get(kind)
        if not rules:
            return make()
        if kind not in _SKIPPABLE_KINDS or params < SKIP_DEFAULT_INIT_FROM or "weight" not in rules:
            module = make()
            apply(module, rules)
            return module
        module = _allocate(make(device="meta"))
        apply(module, rules)
        if module.bias is not None and "bias" not in rules:
            default_bias_(module.bias, module.weight)
        return module


def _allocate(module):
    """Real, uninitialised CPU storage for a meta-device leaf module (cheaper than Module.to_empty)."""
    import torch
    from torch import nn

    for name, tensor in module._parameters.items():
        if tensor is not None:
            module._parameters[name] = nn.Parameter(torch.empty(tensor.shape, dtype=tensor.dtype, device="cpu"),
                                                    tensor.requires_grad)
    return module


def default_bias_(bias, weight) -> None:
    """torch's default bias init of conv and linear layers: uniform(+-1/sqrt(fan_in)) of the weight."""
    import math

    from torch.nn import init

    fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    init.uniform_(bias, -bound, bound)


def apply(module, rules: dict[str, tuple[str, dict]]) -> None:
    import torch
    from torch.nn import init

    with torch.no_grad():
        for name, (scheme, args) in rules.items():
            tensor = getattr(module, name, None)
            if tensor is not None:
                getattr(init, f"{scheme}_")(tensor, **args)
