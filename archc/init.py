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


def parameter_names(kind: str, attrs: dict) -> set[str]:
    """The parameters torch gives a layer of `kind` with these (resolved) attributes."""
    if kind == "batchnorm":
        return {"weight", "bias"} if attrs.get("affine", True) else set()
    return {"weight", "bias"} if attrs.get("bias", True) else {"weight"}


class Initializer:
    """Creates each layer's module and applies the spec's rule for its kind."""

    def __init__(self, section: dict | None):
        self.rules = {str(kind): kind_rules(raw) for kind, raw in (section or {}).items()}

    def create(self, kind: str, attrs: dict, make):
        """`make()` builds the module; where a rule sets every parameter, torch's default init is skipped
        (the module is made on the meta device, then allocated), so the rule's draws come first.

        Batch norm is always made normally: its running statistics are buffers with fixed defaults.
        """
        import torch

        rules = self.rules.get(kind)
        if not rules:
            return make()
        if kind != "batchnorm" and parameter_names(kind, attrs) <= set(rules):
            with torch.device("meta"):
                module = make()
            module = module.to_empty(device="cpu")
        else:
            module = make()
        apply(module, rules)
        return module


def apply(module, rules: dict[str, tuple[str, dict]]) -> None:
    import torch
    from torch.nn import init

    with torch.no_grad():
        for name, (scheme, args) in rules.items():
            tensor = getattr(module, name, None)
            if tensor is not None:
                getattr(init, f"{scheme}_")(tensor, **args)
