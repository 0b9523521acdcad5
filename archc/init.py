"""Parameter initialisation: the spec's `init:` section, resolved into each IR node's `init` rules.

    init:
      conv: {weight: {kaiming_normal: {mode: fan_out, nonlinearity: relu}}, bias: 0}
      linear: xavier_uniform          # shorthand for {weight: xavier_uniform}
      batchnorm: {weight: 1, bias: 0}
      classifier.1: {weight: {normal: {std: 0.01}}, bias: 0}   # a module path (or glob) overrides its kind

A key is an op with an init trait (every layer of that kind) or a module path, glob patterns allowed
(`features.*.conv`), matching a layer or a scope around it; a plain path must match a layer, a glob may
match none (a head that a param turns off). A tensor rule is a number (constant),
a scheme name, or `{scheme: {args}}` (torch.nn.init's schemes and argument names). Tensors without a
rule keep torch's default initialisation. Importing this module does not import torch.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from .errors import did_you_mean, error
from .ops import REGISTRY

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
        "then": {"additionalProperties": {"$ref": "#/$defs/init_tensor"}},
        "else": {"$ref": "#/$defs/init_tensor"},
    }
    kinds = sorted(name for name, op in REGISTRY.items() if op.init)
    return {
        "section": {"type": "object", "description": "initialisation per layer kind (" + ", ".join(kinds) + ") or "
                    "module path / glob (torch defaults otherwise)",
                    "properties": {k: {"$ref": "#/$defs/init_kind"} for k in kinds},
                    "additionalProperties": {"$ref": "#/$defs/init_kind"}},
        "defs": {"init_tensor": tensor, "init_kind": kind},
    }


def tensor_rule(raw) -> tuple[str, dict]:
    """A schema-checked tensor rule as (scheme, arguments)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return "constant", {"val": float(raw) if _finite(raw) else raw}  # 10**400: refused by check, not here
    if isinstance(raw, str):
        return raw, {}
    ((scheme, args),) = raw.items()
    return str(scheme), dict(args or {})


def tensor_rules(raw) -> dict[str, tuple[str, dict]]:
    """A schema-checked entry of `init:` as {tensor name: (scheme, arguments)}."""
    return {str(k): tensor_rule(v) for k, v in raw.items()} if isinstance(raw, dict) else {"weight": tensor_rule(raw)}


# Below this many parameters, torch's default init costs less than making the layer on the meta
# device and allocating it afterwards (measured: ~25k floats on CPU), so small layers are made normally.
SKIP_DEFAULT_INIT_FROM = 32768
_GLOB = re.compile(r"[*?\[]")
_CONSTANT_SCHEMES = {"ones": ("constant", {"val": 1.0}), "zeros": ("constant", {"val": 0.0})}


def check(graph, section, spans) -> None:
    """Refuse `init:` keys that select nothing, or name tensors their layers lack (static, located).

    A key is an op kind with an init trait, or a module path / glob matching a layer with such an op.
    `spans(key)`: where a key is written.
    """
    for key, raw in (section or {}).items():
        key = str(key)
        op = REGISTRY.get(key)
        if op is not None and op.init is None:
            raise error(f"init: the op '{key}' has no parameters init rules can set", spans(key), f"init.{key}",
                        "kinds with rules: " + ", ".join(sorted(n for n, o in REGISTRY.items() if o.init)))
        if op is not None:
            tensors = set(op.init.tensors)
        else:
            matched = _selected(graph, key, None)
            if not matched and _GLOB.search(key):   # a glob may match nothing (a head that a param turns off)
                continue
            if not matched:
                raise error(f"init: '{key}' is neither an op kind nor the path of a layer with parameters",
                            spans(key), f"init.{key}", _path_hint(graph, key))
            tensors = {t for n in matched for t in n.spec.init.of(n.attrs)}
        unknown = [t for t in tensor_rules(raw) if t not in tensors]
        if unknown:
            raise error(f"init: '{key}' has no tensor '{unknown[0]}'", spans(key), f"init.{key}.{unknown[0]}",
                        "its tensors: " + ", ".join(sorted(tensors)))
        vectors = set(op.init.vectors) if op is not None else {t for n in matched for t in n.spec.init.vectors}
        _check_rules(key, raw, vectors, spans)


# -- the values of rules: what torch would refuse at build time is a located error at validate -------

FAN_SCHEMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal")
FLOAT32_MAX = 3.4028234663852886e38  # weights are float32: a larger number would be inf


def _check_rules(key: str, raw, vectors: set, spans) -> None:
    pairs = raw.items() if isinstance(raw, dict) else [("weight", raw)]
    for tensor, rule in pairs:
        vector = tensor in vectors or str(tensor).rsplit(".", 1)[-1] in vectors
        problem = _rule_problem(str(tensor), vector, rule)
        if problem:
            span = raw.span_of(tensor) if hasattr(raw, "span_of") else spans(key)
            raise error(f"init: '{key}': {problem[0]}", span, f"init.{key}" + (f".{tensor}" if isinstance(raw, dict)
                                                                                    else ""), problem[1])


def _finite(value) -> bool:
    """Whether a rule's argument fits a float32 weight (NaN fails both comparisons)."""
    return isinstance(value, bool) or not isinstance(value, (int, float)) or -FLOAT32_MAX <= value <= FLOAT32_MAX


def _rule_problem(tensor: str, vector: bool, raw) -> tuple[str, str | None] | None:
    """What torch would refuse in one tensor rule (or what would make non-finite weights), with a hint."""
    hint = f"weights are float32: use a number between -{FLOAT32_MAX:.3g} and {FLOAT32_MAX:.3g}"
    if not _finite(raw):
        return f"the constant {raw!r} is not a finite float32 number", hint
    scheme, args = tensor_rule(raw)
    bad = [name for name, value in args.items() if not _finite(value)]
    if bad:
        return f"{scheme}: {bad[0]} = {args[bad[0]]!r} is not a finite float32 number", hint
    if scheme in FAN_SCHEMES and vector:
        return (f"{scheme} cannot initialise '{tensor}': it needs a tensor of 2 or more dimensions (its fan in "
                f"and fan out), and '{tensor}' has 1", "use a constant (e.g. 0) or a uniform or normal rule")
    truncated = scheme == "trunc_normal"
    low, high = args.get("a", -2.0 if truncated else 0.0), args.get("b", 2.0 if truncated else 1.0)
    if scheme in ("uniform", "trunc_normal") and low > high:
        return f"{scheme} needs a <= b, found a = {low!r} and b = {high!r}", "a is the lower bound, b the upper"
    if scheme == "uniform" and high - low > FLOAT32_MAX:
        return f"uniform: b - a = {high - low:.3g} is larger than float32 can hold", None
    std = args.get("std", 1.0)
    if scheme == "normal" and std < 0 or truncated and std <= 0:
        return f"{scheme} needs std {'> 0' if truncated else '>= 0'}, found {std!r}", "std is the standard deviation"
    if args.get("gain", 0) < 0 and scheme != "orthogonal":
        return f"{scheme} needs gain >= 0, found {args['gain']!r}", "the gain scales the spread of the weights"
    return None


def resolve(graph) -> None:
    """Set each node's `init` ({tensor: (scheme, args)}) from the graph's checked `init:` section, once.

    Kind rules and path rules apply in the order written (a later key wins per tensor, so a path
    written after its kind overrides it); rules restating the module's own defaults are dropped.
    Done when a module is built, not on the static path.
    """
    if graph.init_resolved:
        return
    graph.init_resolved = True
    touched = {}
    for key, raw in graph.init.items():
        op = REGISTRY.get(key)
        rules = tensor_rules(raw)
        for node in _selected(graph, key, op):
            having = node.spec.init.of(node.attrs)
            node.init = {**node.init, **{t: r for t, r in rules.items() if t in having}}
            touched[node.id] = node
    for node in touched.values():
        defaults = node.spec.init.defaults
        node.init = {t: r for t, r in node.init.items()
                     if r[0] != "default" and _CONSTANT_SCHEMES.get(r[0], r) != defaults.get(t)}


def _selected(graph, key: str, op) -> list:
    if op is not None:
        return [n for n in graph.nodes if n.op == key]
    return [n for n in graph.nodes if n.spec.init and selects(key, None, n)]


def selects(key: str, op, node) -> bool:
    """Whether the `init:` key (op kind `op`, or a path glob when `op` is None) covers `node`."""
    if op is not None:
        return node.op == key
    return node.module is not None and any(fnmatchcase(p, key) for p in (node.module, *node.scopes))


def _path_hint(graph, key: str) -> str:
    paths = [n.module for n in graph.nodes if n.module and n.spec.init]
    return did_you_mean(key, paths) or "a key is an op kind (conv, linear, ...) or a module path such as 'fc'"


def create(node, make):
    """`make(device=None)` builds the node's module; then the node's init rules run.

    Where a rule sets the weight of a large layer whose op has torch's conv/linear default init
    (`Init(default_bias=True)`) and takes `device=`, the default draw is skipped: the module is made
    on the meta device and allocated, the rules run, and a bias without a rule gets torch's default
    (`default_bias_`). Which path a layer takes depends on the spec alone, so seeded builds stay
    reproducible.
    """
    rules = node.init
    if not rules:
        return make()
    trait = node.spec.init
    if not (trait.default_bias and node.spec.lower.factory) or node.params < SKIP_DEFAULT_INIT_FROM \
            or "weight" not in rules:
        module = make()
        apply(module, rules)
        return module
    module = _allocate(make(device="meta"))
    apply(module, rules)
    if module.bias is not None and "bias" not in rules:
        default_bias_(module.bias, module.weight)
    return module


def _allocate(module):
    """Real, uninitialised storage (torch's default device) for a meta-device leaf module (cheaper than to_empty)."""
    import torch
    from torch import nn

    for name, tensor in module._parameters.items():
        if tensor is not None:
            module._parameters[name] = nn.Parameter(torch.empty(tensor.shape, dtype=tensor.dtype, device=None),
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
            tensor = module
            for part in name.split("."):  # "fc1.weight": a tensor of a submodule (a plugin's composite module)
                tensor = getattr(tensor, part, None)
            if tensor is not None:
                getattr(init, f"{scheme}_")(tensor, **args)
