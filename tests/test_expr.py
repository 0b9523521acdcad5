"""The sandboxed expression evaluator: what it computes, and what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archc import limits
from archc.expr import ExprError, evaluate, render_template

ENV = {"growth": 32, "c": 7, "c2": [96, 128], "i": 1, "j": 0, "stages": [[64, 2], [128, 2]], "block": "basic"}


@pytest.mark.parametrize("text, expected", [
    ("4 * growth", 128),
    ("growth // 3 + c % 4 - 1", 12),
    ("c / 2", 3.5),
    ("2 ** 10", 1024),
    ("-c + +3", -4),
    ("(c + 1) * 2", 16),
    ("c2[0]", 96),
    ("c2[-1]", 128),
    ("stages[1][0]", 128),
    ("c2[0:1]", [96]),
    ("[c, 2 * c]", [7, 14]),
    ("(1, 2)", [1, 2]),
    ("floor(c * 0.5)", 3),
    ("ceil(c / 2)", 4),
    ("min(c, 3)", 3),
    ("max(c2)", 128),
    ("abs(-c)", 7),
    ("round(2.6)", 3),
    ("int(7.9)", 7),
    ("float(2)", 2.0),
    ("len(stages)", 2),
    ("sum(c2)", 224),
    ("range(3)", [0, 1, 2]),
    ("floor(growth * 0.5) + 4 * growth", 144),
])
def test_arithmetic_indexing_and_functions(text, expected):
    assert evaluate(text, ENV) == expected


@pytest.mark.parametrize("text, expected", [
    ("c > 3", True),
    ("1 < c <= 7", True),
    ("1 < c < 7", False),
    ("c == 7 and j != 0", False),
    ("c == 7 or missing_is_never_read", True),
    ("not j", True),
    ("96 in c2", True),
    ("5 not in c2", True),
    ("block == 'basic'", True),
    ("2 if i > 0 and j == 0 else 1", 2),
    ("2 if i > 1 else 1", 1),
    ("true and not false", True),
    ("True", True),
])
def test_comparisons_booleans_and_conditionals(text, expected):
    assert evaluate(text, ENV) == expected


def test_name_templates():
    assert render_template("denselayer{j + 1}", ENV) == "denselayer1"
    assert render_template("layer{i + 1}_{c2[0]}", ENV) == "layer2_96"
    assert render_template("plain", ENV) == "plain"
    with pytest.raises(ExprError, match="undefined name 'k'"):
        render_template("layer{k}", ENV)


@pytest.mark.parametrize("text, message, hint", [
    ("c.__class__", r"attribute access \('.__class__'\) is not allowed", "indexing"),
    ("(1).real", r"attribute access \('.real'\)", None),
    ("open('x')", "cannot call 'open'", "functions: floor"),
    ("__import__('os')", "cannot call '__import__'", None),
    ("flor(2.5)", "cannot call 'flor'", "did you mean 'floor'"),
    ("c2[0](1)", "cannot call 'this'", None),
    ("max(c2, key=abs)", "keyword arguments are not allowed", None),
    ("lambda: 1", "'Lambda' is not allowed", "allowed: arithmetic"),
    ("[x for x in c2]", "'ListComp' is not allowed", None),
    ("{x: 1 for x in c2}", "'DictComp' is not allowed", None),
    ("{1: 2}", "'Dict' is not allowed", None),
    ("f'{c}'", "'JoinedStr' is not allowed", None),
    ("import os", "invalid expression", "Python syntax"),
    ("(x := 1)", "'NamedExpr' is not allowed", None),
    ("2 ** 100", r"2 \*\* 100 is too large", None),
    ("10 ** 10 ** 10", "is too large", None),
    ("2 ** 63 * 2", "wider than 64 bits", None),
    ("[0] * 100000", "repeating a sequence 100000 times", None),
    ("'ab' * 10 ** 4", "repeating a sequence", None),
    ("range(10 ** 6)", "larger than the limit", None),
    ("1 / 0", "division by zero", None),
    ("c2[5]", "list index out of range", None),
    ("growht * 2", "undefined name 'growht'", "did you mean 'growth'"),
    ("c +", r"invalid expression 'c \+'", None),
])
def test_refusals_have_clear_messages(text, message, hint):
    with pytest.raises(ExprError, match=message) as info:
        evaluate(text, ENV)
    if hint:
        assert hint in info.value.hint


def test_overly_long_expressions_are_refused_before_parsing():
    with pytest.raises(ExprError, match=f"the limit is {limits.MAX_EXPR_CHARS}"):
        evaluate("1 + " * limits.MAX_EXPR_CHARS + "1", {})
    with pytest.raises(ExprError, match=f"parts; the limit is {limits.MAX_EXPR_NODES}"):
        evaluate("+".join(["1"] * 150), {})


# -- property: small integer arithmetic agrees with Python ---------------------------------------

def expressions(depth: int = 3):
    leaf = st.integers(-20, 20).map(lambda n: f"({n})")
    if depth == 0:
        return leaf
    sub = expressions(depth - 1)
    binary = st.tuples(sub, st.sampled_from(["+", "-", "*", "//", "%", "<", "==", ">="]), sub).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})")
    power = st.tuples(sub, st.integers(0, 3)).map(lambda t: f"({t[0]} ** {t[1]})")
    conditional = st.tuples(sub, sub, sub).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})")
    calls = st.tuples(st.sampled_from(["min", "max"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
    return st.one_of(leaf, binary, power, conditional, calls, sub.map(lambda e: f"abs({e})"))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(expressions())
def test_integer_arithmetic_equals_python(text):
    try:
        expected = eval(text, {"min": min, "max": max, "abs": abs})  # the reference: Python itself
    except ZeroDivisionError:
        with pytest.raises(ExprError, match="division by zero"):
            evaluate(text, {})
        return
    if isinstance(expected, int) and expected.bit_length() > limits.MAX_INT_BITS:
        with pytest.raises(ExprError):
            evaluate(text, {})
        return
    assert evaluate(text, {}) == expected
