"""Language features for newer architectures: evaluated str arguments, a block's own input, `let:`
bindings, math functions, and param-type errors that say how to declare the param."""

from __future__ import annotations

import math

import pytest
import torch

import archc
from archc.errors import SpecError

HEAD = "name: t\ninput: [3, 8, 8]\n"


def ops(text: str, **params) -> list[str]:
    return [n.op for n in archc.analyze(text, params).nodes]


def errors(text: str) -> list:
    with pytest.raises(SpecError) as info:
        archc.analyze(text)
    return info.value.diagnostics


ACT_BLOCK = HEAD + """params: {act: tanh}
blocks:
  unit:
    params: {kind: str}
    layers:
      - if: kind == 'relu'
        then: [relu]
        else: [tanh]
layers:
  - unit: {kind: act}
"""


def test_a_str_argument_naming_a_param_takes_its_value_not_its_text():
    # the bug: `kind: act` received the text "act", and the condition silently chose the else branch
    assert ops(ACT_BLOCK) == ["tanh"]
    assert ops(ACT_BLOCK, act="relu") == ["relu"]


def test_a_bare_word_for_a_str_param_is_refused_with_a_located_error():
    text = ACT_BLOCK.replace("unit: {kind: act}", "unit: {kind: relu}")
    (diag,) = errors(text)
    assert "undefined name 'relu'" in diag.message
    assert diag.span.line == text.splitlines().index("  - unit: {kind: relu}") + 1
    assert "choices" in diag.hint and "'relu'" in diag.hint


def test_declared_choices_are_literal_words_and_checked():
    text = ACT_BLOCK.replace("params: {kind: str}", "params: {kind: {type: str, choices: [relu, tanh]}}")
    assert ops(text.replace("unit: {kind: act}", "unit: {kind: relu}")) == ["relu"]
    assert ops(text) == ["tanh"]  # `act` is no choice: evaluated, the param's value
    (diag,) = errors(text.replace("unit: {kind: act}", "unit: {kind: \"'gelu'\"}"))
    assert "expected one of relu, tanh, found 'gelu'" in diag.message


def test_a_choice_that_is_also_a_defined_name_is_ambiguous():
    text = ACT_BLOCK.replace("params: {act: tanh}", "params: {act: tanh, relu: 1}").replace(
        "params: {kind: str}", "params: {kind: {type: str, choices: [relu, tanh]}}").replace(
        "unit: {kind: act}", "unit: {kind: relu}")
    (diag,) = errors(text)
    assert "both a choice" in diag.message


RESIDUAL = HEAD + """blocks:
  unit:
    params: {out: int, stride: 1}
    layers:
      - add:
          _main:
            - conv: {out: "block_in_channels * 2", kernel: 1}
            - conv: {out: out, kernel: 3, stride: stride, padding: 1}
          _skip:
            - if: not (stride == 1 and block_in_channels == out)
              then: [conv: {out: out, kernel: 1, stride: stride}]
layers:
  - unit: {out: 3}
  - unit: {out: 6, stride: 2}
"""


def test_block_input_names_see_the_blocks_own_input_after_its_first_layer():
    graph = archc.analyze(RESIDUAL)
    convs = [n for n in graph.nodes if n.op == "conv"]
    # first unit: residual without projection (input 3 == out 3); the expand conv doubles the input
    assert [c.shape[0] for c in convs] == [6, 3, 6, 6, 6]
    assert len([n for n in graph.nodes if n.op == "add"]) == 2
    model = archc.build(RESIDUAL, seed=0).eval()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 6, 4, 4)


LET = HEAD + """params: {w0: 24, wm: 2.49}
let:
  hidden: make_divisible(w0 * 1.1, 8)
  steps: "round(log(64 / w0) / log(wm))"
blocks:
  unit:
    params: {expand: 4}
    let: {mid: "make_divisible(block_in_channels * expand, 8)"}
    layers: [conv: {out: mid, kernel: 1}, conv: {out: block_in_channels, kernel: 1}]
layers:
  - conv: {out: hidden, kernel: 1}
  - for: i
    in: steps
    do: [unit]
"""


def _make_divisible(v, divisor, min_value=None):  # torchvision's rule, restated for the check
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def test_let_bindings_and_math_functions():
    graph = archc.analyze(LET)
    convs = [n.shape[0] for n in graph.nodes]
    hidden = _make_divisible(24 * 1.1, 8)
    steps = round(math.log(64 / 24) / math.log(2.49))
    assert convs == [hidden] + [_make_divisible(hidden * 4, 8), hidden] * steps


@pytest.mark.parametrize("value,divisor", [(3.5, 8), (27.5, 8), (100, 8), (37, 16), (16 * 0.25, 8), (1000.1, 8)])
def test_make_divisible_is_torchvisions(value, divisor):
    from torchvision.models._utils import _make_divisible as reference

    from archc.expr import evaluate

    assert evaluate(f"make_divisible({value}, {divisor})", {}) == reference(value, divisor)


@pytest.mark.parametrize("expr,hint", [("log(0)", "log needs x > 0"), ("sqrt(-1)", None), ("exp(1000)", None),
                                        ("pow(10, 100000)", None), ("pow(2.0, 5000)", None)])
def test_math_functions_refuse_what_they_cannot_compute(expr, hint):
    (diag,) = errors(HEAD + f"layers: [conv: {{out: \"{expr}\", kernel: 1}}]\n")
    assert diag.span is not None
    if hint:
        assert hint in diag.hint


def test_let_cannot_hide_a_param():
    (diag,) = errors(HEAD + "params: {w: 2}\nlet: {w: 3}\nlayers: [conv: {out: w, kernel: 1}]\n")
    assert "hides a name" in diag.message and diag.span.line == 4


def test_a_param_typed_by_its_default_says_how_to_accept_a_pair():
    text = HEAD + """blocks:
  unit:
    params: {padding: 0}
    layers: [conv: {out: 2, kernel: [1, 7], padding: padding}]
layers: [unit: {padding: [0, 3]}]
"""
    (diag,) = errors(text)
    assert "expected int" in diag.message and "{type: any" in diag.message
    fixed = text.replace("params: {padding: 0}", "params: {padding: {type: any, default: 0}}")
    assert archc.analyze(fixed).nodes[0].shape == (2, 8, 8)


def test_a_name_used_twice_points_at_both_places():
    text = HEAD + "layers:\n  - conv: {name: a, out: 2, kernel: 1}\n  - relu: {name: a}\n"
    (diag,) = errors(text)
    assert diag.span.line == 5 and [n.span.line for n in diag.notes] == [4]
    rendered = diag.render()
    assert "note: first used here" in rendered and rendered.count(" | ") >= 4
    assert diag.to_json()["notes"][0]["line"] == 4
