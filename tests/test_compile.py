"""torch.compile on archc's modules: no graph breaks in any bundled spec, and compiled equals eager.

Graph breaks are the usual reason a compiled model is no faster. Dynamo decides them from the code
it traces: the generated forward's statements, and each layer's module with its attributes. The
bundled specs fall into trace families: specs whose statements have the same forms, and whose layers
have the same ops with the same attributes up to sizes (every number other than 0 and 1 counts as
the same), trace through the same code. They differ only in shapes and in how often a block repeats.
ResNet-34 is ResNet-18 with more blocks, and DenseNet-201 is DenseNet-121 with more layers, but
swin_t and swin_v2_t (attention version 1 vs 2) are separate families. Each family is traced through
its smallest member (`families()`, computed from the specs, so a new spec with new code is a new
family). The file is budgeted at about 3 minutes on a 2-core CPU, which sets these choices:

- with real weights, `torch.compile(backend="aot_eager", fullgraph=True)` gives eager's outputs.
  That runs dynamo's graph through AOTAutograd's functionalisation, which rewrites the forward's
  in-place statements (`x += y`, in-place ReLUs). `fullgraph=True` makes the first graph break an
  error, so this is also the no-graph-break check. It runs for a set of families (`aot_cover()`,
  about two thirds) that together hold every op with its attributes and every statement form of
  all families;
- the other families (which repeat what the set compiles: VGG, ResNet-50, DenseNet-121, ...), on
  the meta device: `torch._dynamo.explain` reports one graph and 0 graph breaks in eval mode. Where
  the forward branches on `self.training` (train-only outputs), every such family gets the same
  check in train mode. Inputs are small: 32x32, or the smallest size the spec allows;
- the inductor backend (C++ kernels; about 30 s of compilation for ResNet-18 on 2 cores): ResNet-18;
- training: aot_eager forward and backward of ResNet-18 (in-place adds and ReLUs): outputs and
  gradients equal eager's.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
import torch
import torch._dynamo as dynamo

import archc
from archc.emit.build import build_from_graph
from archc.emit.forward import forward_source
from archc.pipeline import compile_spec
from conftest import SPECS

SIZES = (32, 64, 96, 128, 160, 224, 256, 299)


def number_class(value):
    """An attribute with its sizes blurred: numbers become 0, 1, '-' or 'n'; tuples element by element."""
    if isinstance(value, (tuple, list)):
        return tuple(number_class(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return "0" if value == 0 else "1" if value == 1 else "-" if value < 0 else "n"


def statement_form(line: str) -> str:
    """A forward statement with its names, strings and numbers taken out (methods and `torch.` kept)."""
    line = re.sub(r"(?<![\w.])\d+(\.\d+)?(e-?\d+)?\b", "N", re.sub(r'"[^"]*"', "S", line.strip()))
    return re.sub(r"(?<![.\w])(?!torch\b|self\b|return\b|if\b)[A-Za-z_]\w*", "_", line)


def trace_signature(graph) -> tuple[frozenset, frozenset]:
    ops = frozenset((n.op, tuple(sorted((k, repr(number_class(v))) for k, v in n.attrs.items())))
                    for n in graph.nodes)
    return ops, frozenset(map(statement_form, forward_source(graph).splitlines()[1:]))


@cache
def signatures() -> dict[tuple, list[tuple[int, str]]]:
    """Trace signature -> (node count, name) of every spec that has it."""
    members: dict[tuple, list[tuple[int, str]]] = {}
    for path in sorted(SPECS.glob("*.yaml")):
        graph = archc.analyze(path)
        members.setdefault(trace_signature(graph), []).append((len(graph.nodes), path.stem))
    return members


@cache
def families() -> dict[str, list[str]]:
    """Each family's smallest spec (fewest nodes) -> every spec of the family."""
    return {min(specs)[1]: sorted(name for _, name in specs) for specs in signatures().values()}


@cache
def aot_cover() -> list[str]:
    """Families whose smallest specs, compiled together, have every op (with its attributes) and every
    statement form of all families: picked greedily, most new features per node first."""
    features = {min(specs): set(ops) | set(forms) for (ops, forms), specs in signatures().items()}
    missing, chosen = set().union(*features.values()), []
    while missing:
        best = max(features, key=lambda spec: (len(features[spec] & missing) / spec[0], -spec[0]))
        chosen.append(best[1])
        missing -= features.pop(best)
    return sorted(chosen)


@cache
def small_input(spec: str) -> tuple[int, ...]:
    """The spec's input with the smallest height and width of SIZES that its shapes allow."""
    shape = archc.analyze(SPECS / f"{spec}.yaml").input_shape
    for size in (s for s in SIZES if len(shape) == 3 and s <= shape[1]):
        try:
            archc.analyze(SPECS / f"{spec}.yaml", input_shape=(shape[0], size, size))
        except archc.SpecError:
            continue
        return (shape[0], size, size)
    return tuple(shape)


def build(spec: str, device: str | None = None, **params) -> tuple[torch.nn.Module, torch.Tensor]:
    shape = small_input(spec)
    compiled = compile_spec(SPECS / f"{spec}.yaml", params, shape)
    model = build_from_graph(compiled.graph, compiled.spec, seed=0, device=device)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)).to(device or "cpu")
    return model, x


def assert_no_graph_breaks(model: torch.nn.Module, x: torch.Tensor) -> None:
    dynamo.reset()
    with torch.no_grad():
        explained = dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_families_cover_every_spec_and_split_where_the_code_differs():
    family_of = {spec: rep for rep, specs in families().items() for spec in specs}
    assert sorted(family_of) == sorted(p.stem for p in SPECS.glob("*.yaml"))
    assert family_of["resnet34"] == family_of["resnet18"] and family_of["densenet201"] == family_of["densenet121"]
    assert family_of["swin_t"] != family_of["swin_v2_t"]                # window attention v1 / v2
    assert family_of["resnet50"] != family_of["resnet18"]              # bottleneck vs basic blocks


def has_train_only_outputs(spec: str) -> bool:
    return any(output.train_only for output in archc.analyze(SPECS / f"{spec}.yaml").outputs)


@pytest.mark.parametrize("spec", sorted(set(families()) - set(aot_cover())
                                        | {spec for spec in families() if has_train_only_outputs(spec)}))
def test_no_graph_breaks(spec):
    """`spec` stands for its whole family (families()[spec])."""
    model, x = build(spec, device="meta")
    if spec not in aot_cover():
        assert_no_graph_breaks(model.eval(), x)
    if has_train_only_outputs(spec):
        assert_no_graph_breaks(model.train(), x)


@pytest.mark.parametrize("spec", aot_cover())
def test_aot_eager_without_graph_breaks_equals_eager(spec):
    """`spec` stands for its whole family (families()[spec])."""
    model, x = build(spec)
    model.eval()
    dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


def test_inductor_resnet18_equals_eager():
    model, x = build("resnet18")
    model.eval()
    dynamo.reset()
    compiled = torch.compile(model, backend="inductor", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)


def test_aot_eager_training_step_equals_eager():
    model, x = build("resnet18")
    model.train()
    weights = list(model.parameters())

    def step(module):
        outputs = module(x)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        loss = sum(out.square().mean() for out in outputs)
        return outputs, torch.autograd.grad(loss, weights)

    dynamo.reset()
    compiled_outputs, compiled_grads = step(torch.compile(model, backend="aot_eager", fullgraph=True))
    eager_outputs, eager_grads = step(model)
    torch.testing.assert_close(compiled_outputs, eager_outputs)
    torch.testing.assert_close(compiled_grads, eager_grads)
