"""Fuzzing: random specs, YAML, bytes, expressions and --set values never crash archc.

Every input either succeeds or raises archc's own error (SpecError with a located
diagnostic, ExprError, ValueError for --set), in bounded time. Specs drawn from
the shape-safe grammar below must always compile, to the expected output shape.

CI runs a fixed, derandomized budget of about 300 examples. A longer, random run:

    ARCHC_FUZZ_EXAMPLES=20000 nice -n 10 python3 -m pytest tests/test_fuzz.py -q --hypothesis-show-statistics
"""

from __future__ import annotations

import ast
import copy
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc.errors import SpecError
from archc.expr import ExprError, evaluate, render_template
from archc.loader import PMap
from archc.params import parse_override, resolve_params

TOTAL = int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "300"))
LONG_RUN = "ARCHC_FUZZ_EXAMPLES" in os.environ
SECONDS = 5  # every single input is handled within this


def fuzz(share: int):
    """Settings for one fuzz test: `share` of every 300 examples; derandomized unless it is a long run."""
    return settings(max_examples=max(1, TOTAL * share // 300), derandomize=not LONG_RUN, database=None,
                    deadline=timedelta(seconds=SECONDS), suppress_health_check=list(HealthCheck))


def timed(func, *args):
    start = time.monotonic()
    try:
        return func(*args)
    finally:
        assert time.monotonic() - start < SECONDS, f"took {time.monotonic() - start:.1f} s"


def check_analyze(source) -> archc.Graph | None:
    """archc.analyze succeeds, or raises SpecError whose every diagnostic has a message and a location."""
    try:
        return timed(archc.analyze, source)
    except SpecError as exc:
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            assert diagnostic.message
            assert diagnostic.span is not None, diagnostic.render()
            assert diagnostic.span.line >= 1 and diagnostic.span.col >= 1
        str(exc)  # renders
        return None


# -- a grammar of specs that are valid by construction ---------------------------------------------

BLOCKS = {
    "widen": {"params": {"width": "int"},
              "layers": [{"conv": {"out": "width", "kernel": 3, "padding": 1}}, "relu"]},
    "keep": {"params": {"k": {"type": "int", "default": 1}},
             "layers": [{"conv": {"out": "in_channels", "kernel": "k", "padding": "k // 2"}}, "batchnorm"]},
}
CLASSES = 5


def leaves(keep_channels: bool):
    out = st.just("in_channels") if keep_channels else st.one_of(
        st.integers(1, 8), st.sampled_from(["in_channels * 2", "max(1, in_channels // 2)", "floor(in_channels / 2) + 1"]))
    conv = st.builds(lambda o, k: {"conv": {"out": o, "kernel": k, "padding": "same" if k > 1 else 0}},
                     out, st.sampled_from([1, 3]))
    simple = st.sampled_from(["relu", "identity", "batchnorm", {"dropout": {"p": 0.5}}, {"leaky_relu": {"slope": 0.1}},
                              {"maxpool": {"kernel": 3, "stride": 1, "padding": 1}}])
    block = st.just({"keep": {"k": 3}}) if keep_channels else st.builds(lambda w: {"widen": {"width": w}},
                                                                        st.integers(1, 6))
    return st.one_of(simple, conv, block)


def items(keep_channels: bool):
    def extend(children):
        body = st.lists(children, min_size=0, max_size=3)
        same = st.lists(items_keep, min_size=0, max_size=2)
        structures = [
            st.builds(lambda b: {"group": b}, body),
            st.builds(lambda n, b: {"for": "i", "in": n, "do": b}, st.integers(0, 3), body),
            st.builds(lambda c, t, e: {"if": c, "then": t, "else": e},
                      st.sampled_from(["true", "false", "in_channels > 3"]), body, body),
            st.builds(lambda a, b: {"add": {"_a": a, "_b": b}}, same, same),
        ]
        if not keep_channels:
            structures.append(st.builds(lambda a, b: {"concat": {"_a": a, "_b": b}}, body, body))
        return st.one_of(*structures)

    return st.recursive(leaves(keep_channels), extend, max_leaves=8)


items_keep = st.deferred(lambda: items(True))


@st.composite
def valid_specs(draw):
    body = draw(st.lists(items(False), min_size=1, max_size=5))
    head = [{"adaptive_avgpool": {"out": 1}}, "flatten", {"linear": {"out": CLASSES}}]
    return {"name": "fuzz", "input": [draw(st.integers(1, 4)), draw(st.integers(4, 12)), draw(st.integers(4, 12))],
            "blocks": copy.deepcopy(BLOCKS), "layers": body + head}


# -- mutations ------------------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(10 ** 20), 10 ** 20), st.sampled_from([0, -1, 1, 2 ** 63, 10 ** 10]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["in_channels / 0", "undefined", "1 +", "x[0]", "__import__('os')", "().__class__",
                     "9 ** 9 ** 9", "[0] * 10 ** 9", "range(10 ** 9)", "relu", "conv", "same", "{i}"]),
    st.lists(st.integers(-3, 300), max_size=4), st.dictionaries(st.sampled_from(["out", "kernel", "x", "layers"]),
                                                               st.integers(-2, 5), max_size=2),
    st.deferred(lambda: EXPRESSIONS),
)


def places(node, found=None):
    """Every (container, key) pair of a nested dict/list."""
    found = [] if found is None else found
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.append((node, key))
        places(child, found)
    return found


@st.composite
def mutated_specs(draw):
    spec = copy.deepcopy(draw(valid_specs()))  # strategies share their literal dicts: never mutate those
    for _ in range(draw(st.integers(1, 3))):
        found = places(spec)
        if not found:
            break
        container, key = found[draw(st.integers(0, len(found) - 1))]
        kind = draw(st.sampled_from(["delete", "replace", "swap", "wrap", "rename"]))
        if kind == "delete":
            del container[key]
        elif kind == "replace":
            container[key] = draw(JUNK)
        elif kind == "swap" and isinstance(container, list) and len(container) > 1:
            other = draw(st.integers(0, len(container) - 1))
            container[key], container[other] = container[other], container[key]
        elif kind == "wrap":
            container[key] = [container[key]]
        elif kind == "rename" and isinstance(container, dict):
            container[key + draw(st.sampled_from(["s", "_", "x"]))] = container.pop(key)
    return spec


def as_yaml(spec) -> str:
    return yaml.safe_dump(spec, sort_keys=False)


# -- specs ----------------------------------------------------------------------------------------


@fuzz(60)
@given(valid_specs(), st.booleans())
def test_specs_from_the_grammar_always_compile(spec, as_text):
    graph = timed(archc.analyze, as_yaml(spec) if as_text else spec)
    assert graph.nodes[-1].shape == (CLASSES,)


@fuzz(80)
@given(mutated_specs(), st.booleans())
def test_mutated_specs_succeed_or_fail_with_located_errors(spec, as_text):
    check_analyze(as_yaml(spec) if as_text else spec)


@st.composite
def damaged_yaml(draw):
    """A valid spec's YAML with a few characters inserted, deleted or replaced."""
    text = as_yaml(draw(valid_specs()))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from([":", "-", " ", "\t", "\n", "[", "]", "{", "}", "'", '"', "&a", "*a", "!!",
                                     "#", ",", "0", "x", "\\", "|", ">", "%", "@", "`", "?", "\x00", "\ufeff"]))
        text = text[:at] + junk + text[at + draw(st.integers(0, 2)):]
    return text


@fuzz(50)
@given(st.one_of(damaged_yaml(), st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"&*!|>#? \t\n0123456789")),
                                          max_size=80).filter(lambda t: "\n" in t)))
def test_random_yaml_text(text):
    check_analyze(text)


_SCRATCH = tempfile.TemporaryDirectory(prefix="archc-fuzz-")  # removed when the test process ends
SCRATCH = Path(_SCRATCH.name)


@fuzz(10)
@given(st.text(alphabet=st.sampled_from(list("ab./\x00 ~*?-")), max_size=12))
def test_random_file_names(name):
    """A one-line string is a file name; one that names no spec is refused (a file problem has no line)."""
    try:
        timed(archc.analyze, str(SCRATCH / "names" / name) if name.strip() else name)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            assert diagnostic.span is not None or "file" in diagnostic.message, diagnostic.render()


@fuzz(20)
@given(st.binary(max_size=200), st.sampled_from([b"", b"name: x\ninput: [3, 8, 8]\nlayers: [relu]\n", b"\xef\xbb\xbf"]))
def test_random_bytes_as_a_file(data, prefix):
    path = SCRATCH / "spec.yaml"
    path.write_bytes(prefix + data)
    check_analyze(str(path))


# -- expressions ------------------------------------------------------------------------------------

ENV = {"x": 3, "i": 2, "in_channels": 64, "c": [1, 2, 3], "s": "ab", "f": 0.5}
TOKENS = ["x", "i", "in_channels", "c", "s", "f", "y", "0", "1", "-1", "2", "10 ** 9", "1e308", "0.5", "'a'", "True",
          "None", "+", "-", "*", "/", "//", "%", "**", "<", "==", "and", "or", "not", "if", "else", "in", "(", ")",
          "[", "]", ",", ":", "floor(", "min(", "max(", "range(", "len(", "sum(", "int(", "round(", "abs(", ".",
          "lambda", "__class__", "{", "}", "=", ";"]


def check_expression(text: str) -> None:
    try:
        timed(evaluate, text, ENV)
    except ExprError as exc:
        assert exc.message


@fuzz(40)
@given(st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join))
def test_random_token_strings(text):
    check_expression(text)


ATOMS = st.one_of(st.sampled_from(list(ENV) + ["y", "in_channels", "in_height", "in_shape", "i"]), st.integers(-(2 ** 70), 2 ** 70).map(str),
                  st.floats(allow_nan=False).map(repr), st.sampled_from(["'ab'", "True", "None", "[]", "[1, [2]]"]))


def compound(children):
    pair = st.tuples(children, children)
    return st.one_of(
        st.builds(lambda p, op: f"({p[0]} {op} {p[1]})", pair,
                  st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "==", "!=", "and", "or", "in"])),
        st.builds(lambda a, op: f"({op} {a})", children, st.sampled_from(["-", "+", "not"])),
        st.builds(lambda p, c: f"({p[0]} if {c} else {p[1]})", pair, children),
        st.builds(lambda f, args: f"{f}({', '.join(args)})",
                  st.sampled_from(["floor", "ceil", "min", "max", "abs", "round", "int", "float", "len", "sum",
                                   "range"]), st.lists(children, max_size=3)),
        st.builds(lambda p: f"{p[0]}[{p[1]}]", pair),
        st.builds(lambda p: f"{p[0]}[{p[1]}:]", pair),
        st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    )


EXPRESSIONS = st.recursive(ATOMS, compound, max_leaves=12)


@fuzz(40)
@given(EXPRESSIONS)
def test_random_expression_trees(text):
    ast.parse(text, mode="eval")  # the generator only makes well-formed expressions
    check_expression(text)


@fuzz(10)
@given(st.text(alphabet=st.sampled_from(list("ab{}i+1 x_0()")), max_size=30))
def test_random_name_templates(text):
    try:
        assert isinstance(timed(render_template, text, ENV), str)
    except ExprError as exc:
        assert exc.message


# -- --set values ----------------------------------------------------------------------------------

DECLARED = PMap({"width": 64, "ratio": 0.5, "stages": [2, 2], "name": "net", "flag": True})


SET_VALUES = st.one_of(st.text(max_size=20), st.sampled_from(
    ["&a [*a]", "!!python/object/apply:os.system [ls]", "!!binary aGk=", "2024-01-01", "[" * 500, "1e999", ".nan",
     "[1, 2]", "{a: 1}", "~", "0x10"]))


@fuzz(20)
@given(st.one_of(st.text(max_size=30),
                 st.builds(lambda k, v: f"{k}={v}", st.sampled_from([*DECLARED, "widht", ""]), SET_VALUES)))
def test_set_values_parse_or_are_refused(text):
    try:
        key, value = timed(parse_override, text)
    except ValueError as exc:
        assert str(exc)
        return
    try:
        resolved = resolve_params(DECLARED, {key: value})
    except SpecError as exc:
        assert all(d.message and d.path.startswith("params") for d in exc.diagnostics)
        return
    assert set(resolved) == set(DECLARED)
