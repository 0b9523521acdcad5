"""The sandboxed expression evaluator: what it computes, and what it refuses."""

from __future__ import annotations

import itertools

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


@pytest.mark.parametrize("text, expected", [
    ("[2 * x for x in c2]", [192, 256]),
    ("[x for x in range(6) if x % 2 if x > 1]", [3, 5]),
    ("[w * n for w, n in stages]", [128, 256]),
    ("[[w, n] for [w, n] in stages if w > 100]", [[128, 2]]),
    ("[i + 10 * j for i in range(3) for j in range(i)]", [1, 2, 12]),
    ("[[j for j in range(i)] for i in range(3)]", [[], [0], [0, 1]]),
    ("[i for i in range(2)] + [i]", [0, 1, 1]),            # the loop's i shadows the env's, only inside
    ("[c + w for (w, n), c in zip(stages, c2)]", [160, 256]),
    ("[x for x in []]", []),
    ("runs([8, 8, 16, 16, 16, 8])", [[8, 2], [16, 3], [8, 1]]),
    ("runs([])", []),
    ("[w for w, n in runs([1, 1, 2])]", [1, 2]),
    ("zip(c2, [1, 2, 3])", [[96, 1], [128, 2]]),
    ("zip()", []),
])
def test_comprehensions_runs_and_zip(text, expected):
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
    ("sum(x for x in c2)", "'GeneratorExp' is not allowed", "[f(x) for x in xs if c]"),
    ("{x for x in c2}", "'SetComp' is not allowed", None),
    ("[1 for c2[0] in stages]", "a comprehension's 'for' binds names", "found 'c2[0]'"),
    ("[x for x in c]", "a comprehension runs over a list, found 7", "range(n)"),
    ("[a for a, b in c2]", r"cannot unpack 96 into \(a, b\)", "2 values"),
    ("[0 for i in range(10000) for j in range(2)]", "the result has more than 10000 items", None),
    ("[range(4000) for i in range(3)]", "the result has more than 10000 items", None),
    ("[0 for i in range(1000) for j in range(1000) if j < 0]", "more than 100,000 iterations", None),
    ("runs(c)", "runs\\(\\) takes a list, found 7", None),
    ("zip(c2, c)", "zip\\(\\) takes lists", None),
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


# -- property: comprehensions, runs and zip agree with Python -------------------------------------

def terms(names):
    """Small integer expressions over `names`."""
    leaf = st.one_of(st.sampled_from(names), st.integers(-9, 9).map(lambda n: f"({n})"))
    return st.recursive(leaf, lambda sub: st.one_of(
        st.tuples(sub, st.sampled_from(["+", "-", "*", "%", "<", "=="]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, sub).map(lambda t: f"max({t[0]}, {t[1]})")), max_leaves=6)


@st.composite
def comprehensions(draw):
    """[element for x in xs (if cond) (for y in range(..) | ys (if cond))], elements and conditions over x, y."""
    second = draw(st.sampled_from(["", " for y in ys", " for y in range(abs(x) % 4)", " for y in [x, 2 * x]"]))
    names = ["x", "y"] if second else ["x"]
    first_if = draw(st.one_of(st.just(""), terms(["x"]).map(lambda t: f" if {t}")))
    second_if = draw(st.one_of(st.just(""), terms(names).map(lambda t: f" if {t}"))) if second else ""
    element = draw(st.one_of(terms(names), st.tuples(terms(names), terms(names)).map(lambda t: f"[{t[0]}, {t[1]}]")))
    return f"[{element} for x in xs{first_if}{second}{second_if}]"


@settings(max_examples=100, deadline=None, derandomize=True)
@given(comprehensions(), st.lists(st.integers(-30, 30), max_size=12), st.lists(st.integers(-5, 5), max_size=4))
def test_comprehensions_equal_python(text, xs, ys):
    env = {"xs": xs, "ys": ys}
    try:
        expected = eval(text, {"max": max, "abs": abs, "range": range, **env})  # the reference: Python itself
    except ZeroDivisionError:
        with pytest.raises(ExprError, match="division by zero"):
            evaluate(text, env)
        return
    assert evaluate(text, env) == expected


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 3), max_size=20), st.lists(st.integers(0, 3), max_size=20))
def test_runs_and_zip_equal_python(items, others):
    runs = evaluate("runs(items)", {"items": items})
    assert runs == [[value, len(list(group))] for value, group in itertools.groupby(items)]
    assert evaluate("sum([[w] * n for w, n in runs(items)], [])", {"items": items}) == items   # runs inverts
    assert all(a[0] != b[0] for a, b in itertools.pairwise(runs))                                  # maximal runs
    assert evaluate("zip(a, b)", {"a": items, "b": others}) == [list(p) for p in zip(items, others)]


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(1, 200), st.integers(1, 200), st.integers(0, 3))
def test_comprehension_sizes_are_bounded(n, m, depth):
    """Whatever the sizes, a comprehension either gives Python's list or is refused by a limit, never slower."""
    inner = "0" if depth == 0 else "[0] * " + str(10 ** depth)
    text = f"[{inner} for i in range({n}) for j in range({m})]"
    size = n * m * (1 + (10 ** depth if depth else 0))
    if size <= limits.MAX_LIST_LEN:
        assert len(evaluate(text, {})) == n * m
    else:
        with pytest.raises(ExprError, match="more than 10000 items"):
            evaluate(text, {})
