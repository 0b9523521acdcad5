"""Fuzzing: random specs, YAML, bytes, expressions, --set values and command lines never crash archc.

Every input either succeeds or raises archc's own error (SpecError with a located
diagnostic, ExprError, ValueError for --set), in bounded time. Specs drawn from
the shape-safe grammar below must always compile, to the expected output shape;
a mutated spec that validates must also build, emit Python that compiles and
computes the same, and draw as DOT that Graphviz reads.

Mutations work on dicts (keys deleted, renamed or given other types, values replaced
by junk, items swapped or wrapped) and on the YAML text of the bundled specs and of
grammar specs (tokens replaced and swapped, numbers perturbed up to 2**63 and beyond,
YAML tags inserted, list markers deleted, merge keys and anchors inserted).

CI runs a fixed, derandomized budget of about 400 examples. A longer, random run:

    ARCHC_FUZZ_EXAMPLES=20000 nice -n 10 python3 -m pytest tests/test_fuzz.py -q -p no:cacheprovider \
        --hypothesis-show-statistics

`ARCHC_FUZZ_EXAMPLES` is the total, shared among the tests in proportion to their CI shares.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc.errors import SpecError
from archc.expr import ExprError, evaluate, render_template
from archc.loader import PMap
from archc.ops import numel
from archc.params import parse_override, resolve_params
from archc.pipeline import Source, parse_input
from conftest import SPECS

TOTAL = int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "400"))
LONG_RUN = "ARCHC_FUZZ_EXAMPLES" in os.environ
SECONDS = 5  # every single input is handled within this
HANG = 30  # an input still running after this is stopped and reported as a hang


BUILD_SECONDS = 60  # a torch build, emit and dot run (the first one imports torch)


def fuzz(share: int, seconds: int = SECONDS):
    """Settings for one fuzz test: `share` of every 400 examples; derandomized unless it is a long run."""
    return settings(max_examples=max(1, TOTAL * share // 400), derandomize=not LONG_RUN, database=None,
                    deadline=timedelta(seconds=seconds), suppress_health_check=list(HealthCheck))


class Hang(BaseException):
    """An input ran past HANG seconds (BaseException: archc's own handlers must not swallow it)."""


def _alarm(signum, frame):
    raise Hang(f"still running after {HANG} s")


def timed(func, *args, seconds: float = SECONDS):
    """func(*args), which must return within `seconds`; one still running after HANG is stopped."""
    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(HANG, seconds))
    try:
        return func(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        assert time.monotonic() - start < seconds, f"took {time.monotonic() - start:.1f} s"


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
        st.integers(1, 8), st.sampled_from(["in_channels * 2", "max(1, in_channels // 2)", "floor(in_channels / 2) + 1",
                                            "w", "w + 1"]))
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
    spec = {"name": "fuzz", "input": [draw(st.integers(1, 4)), draw(st.integers(4, 12)), draw(st.integers(4, 12))],
            "params": {"w": draw(st.integers(1, 6))}, "blocks": copy.deepcopy(BLOCKS), "layers": body + head}
    init = draw(st.sampled_from(INITS))
    return {**spec, "init": copy.deepcopy(init)} if init else spec


INITS = [None, {"conv": {"weight": {"kaiming_normal": {"mode": "fan_out", "nonlinearity": "relu"}}, "bias": 0}},
         {"conv": {"weight": {"normal": {"mean": 0, "std": 0.01}}}, "linear": "xavier_uniform"},
         {"batchnorm": {"weight": 1, "bias": 0}, "linear": {"weight": {"uniform": {"a": -0.1, "b": 0.1}}}}]


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
        kind = draw(st.sampled_from(["delete", "replace", "swap", "wrap", "rename", "retype", "undefined"]))
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
            container[str(key) + draw(st.sampled_from(["s", "_", "x"]))] = container.pop(key)
        elif kind == "retype" and isinstance(container, dict):  # a key of another type: params: {32: 2}
            container[draw(OTHER_KEYS)] = container.pop(key)
        elif kind == "undefined":
            container[key] = draw(st.sampled_from(["nope", "w2", "in_chanels", "{nope}"]))
    return spec


OTHER_KEYS = st.sampled_from([32, None, True, 1.5, -1, 2 ** 63, "", "a.b", "class", "forward", "x\n", "<<"])


def as_yaml(spec) -> str:
    return yaml.safe_dump(spec, sort_keys=False)


# -- mutations of YAML text: the bundled specs and grammar specs --------------------------------------

SEEDS = [path.read_text() for path in sorted(SPECS.glob("*.yaml"))]
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?|.", re.S)
NUMBER = re.compile(r"\d")
WORDS = ["for", "if", "in", "do", "then", "else", "index", "name", "params", "blocks", "layers", "input", "outputs",
         "init", "extends", "imports", "from", "side", "group", "dense", "add", "concat", "conv", "relu", "linear",
         "class", "forward", "half", "block1-0", "a.b", "x\\", "é", "v²", "{i}", "'{i + 1}'", "in_channels", "w",
         "nope", "null", "~", "true", "[]", "{}", "[[", "]]", "'", '"', "#", ":", ",", "-", "?", "|", ">", "%",
         "<<", "&a", "*a", "!", "!!int", "!!str", "!!float", "!!binary", "!!python/name:os.system", "!local",
         "/dev/zero", "/proc/self/environ", ".", "..", "'round(1, -10**18)'", "\"'%9999999d' % 1\"",
         "'[0] * 10**9'", "'range(10**9)'", "kaiming_normal", "uniform", "normal", "std", "constant", ".nan", ".inf"]
NUMBERS = [0, -1, 1, 2, 3, 7, 2 ** 31, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 63 + 1, 2 ** 64, 10 ** 20, 10 ** 400,
           "1e308", "-1e308", ".nan", ".inf", "-.inf", "0.5", "-0.5", "1e-320"]
TAGS = ["!!int ", "!!str ", "!!float ", "!!bool ", "!!null ", "!!seq ", "!!map ", "!!binary ", "!!timestamp ", "! ",
        "!foo ", "!<tag:yaml.org,2002:int> ", "!!python/object/apply:os.system ", "&a ", "*a "]


def _perturbed(number: str, draw) -> str:
    value = int(number) if number.isdigit() else 1  # a token of digits (perhaps 401 of them), or 1
    return str(draw(st.one_of(st.sampled_from(NUMBERS), st.sampled_from([value + 1, value - 1, -value, value * 1000,
                                                                           value * 2 ** 60, value + 2 ** 63]))))


@st.composite
def mutated_text(draw):
    """A bundled or grammar spec's YAML with a few tokens replaced, swapped, perturbed, tagged or deleted."""
    text = draw(st.one_of(st.sampled_from(SEEDS), valid_specs().map(as_yaml)))
    tokens = TOKEN.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "swap", "number", "number", "tag", "marker", "merge", "delete"]))
        at = draw(st.integers(0, len(tokens) - 1))
        if kind == "replace":
            tokens[at] = draw(st.one_of(st.sampled_from(WORDS), st.sampled_from(tokens)))
        elif kind == "swap":
            other = draw(st.integers(0, len(tokens) - 1))
            tokens[at], tokens[other] = tokens[other], tokens[at]
        elif kind == "number" and (numbers := [i for i, t in enumerate(tokens) if NUMBER.match(t)]):
            at = draw(st.sampled_from(numbers))
            tokens[at] = _perturbed(tokens[at], draw)
        elif kind == "tag" and not tokens[at].isspace():
            tokens[at] = draw(st.sampled_from(TAGS)) + tokens[at]
        elif kind == "marker" and (markers := [i for i, t in enumerate(tokens) if t == "-"]):
            del tokens[draw(st.sampled_from(markers))]  # a list item's '- '
        elif kind == "merge":  # an anchor and a merge key or alias somewhere
            tokens[at] = draw(st.sampled_from(["&a ", "<<: *a\n", "*a", "{<<: *a, x: 1}", "[*a, *a]"])) + tokens[at]
        elif kind == "delete":
            del tokens[at]
        if not tokens:
            return ""
    return "".join(tokens)


# -- specs ----------------------------------------------------------------------------------------


@fuzz(60)
@given(valid_specs(), st.booleans())
def test_specs_from_the_grammar_always_compile(spec, as_text):
    graph = timed(archc.analyze, as_yaml(spec) if as_text else spec)
    assert graph.nodes[-1].shape == (CLASSES,)


@fuzz(80)
@given(mutated_specs(), st.booleans())
def test_mutated_specs_succeed_or_fail_with_located_errors(spec, as_text):
    check_analyze(Source.text(as_yaml(spec)) if as_text else spec)


@fuzz(70)
@given(mutated_text())
def test_mutated_yaml_text_succeeds_or_fails_with_located_errors(text):
    graph = check_analyze(Source.text(text))  # one-line text is a valid file name: said explicitly
    if graph is not None:
        from archc.emit.graphviz import digraph

        assert timed(lambda: digraph(graph, depth=1).source).startswith("digraph")


def same_outputs(a, b) -> bool:
    import torch

    flat = lambda out: list(out.values()) if isinstance(out, dict) else list(out) if isinstance(  # noqa: E731
        out, (tuple, list)) else [out]
    return all(torch.equal(x, y) for x, y in zip(flat(a), flat(b), strict=True))


def check_backends(text: Source, graph: archc.Graph) -> None:
    """What validates builds, emits Python that compiles and computes the same, and draws as valid DOT."""
    import torch

    from archc.emit.torch_module import class_name

    model = archc.build(text, seed=0).eval()
    namespace: dict = {}
    exec(compile(archc.emit_python(text), "<emitted>", "exec"), namespace)  # noqa: S102 (archc's own output)
    emitted = namespace[class_name(graph.name)]()  # the model's class (blocks have classes of their own)
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, *graph.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert same_outputs(model(x), emitted.eval()(x))
    dot = archc.graph(text).source
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tcanon"], input=dot.encode(), capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()


@fuzz(25, BUILD_SECONDS)
@given(st.one_of(valid_specs().map(as_yaml), mutated_text(), mutated_specs().map(as_yaml)))
def test_what_validates_also_builds_emits_and_draws(text):
    source = Source.text(text)
    graph = check_analyze(source)
    if graph is not None and graph.total_params <= 200_000 and len(graph.nodes) <= 200 and largest_value(graph) <= 10 ** 6:
        timed(check_backends, source, graph, seconds=BUILD_SECONDS)


def largest_value(graph: archc.Graph) -> int:
    """Elements per sample of the graph's largest value (a valid spec may need more memory than there is)."""
    return max(numel(graph.input_shape), *(numel(node.shape) for node in graph.nodes))


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
    check_analyze(Source.text(text))


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


# -- command lines ----------------------------------------------------------------------------------

OPTIONS = st.lists(st.one_of(
    st.tuples(st.just("--input"), st.one_of(st.sampled_from(
        ["", "3x8x8", "0", "3x", "x", "-1", "3,8,8", "1x1x1x1", "99999999999999999999", "3x2**63"]), st.text(max_size=8))),
    st.tuples(st.just("--set"), st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["w", "x", "", "w=w"]), SET_VALUES)),
    st.tuples(st.just("--depth"), st.sampled_from(["0", "1", "-1", "x", "99999999999999999999"])),
    st.tuples(st.just("--max-params"), st.sampled_from(["1", "0", "x", "10"])),
    st.tuples(st.just("--json")), st.tuples(st.just("--direction"), st.sampled_from(["LR", "tb", "up"])),
), max_size=3)


@fuzz(30)
@given(st.sampled_from(["validate", "shapes", "graph"]), st.one_of(valid_specs().map(as_yaml), mutated_text()),
       OPTIONS)
def test_command_lines_exit_0_1_or_2_never_3(command, text, options):
    from archc.cli import run

    path = SCRATCH / "cli.yaml"
    path.write_text(text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = timed(run, [command, str(path), *(part for option in options for part in option)])
    assert code in (0, 1, 2), err.getvalue()
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()
    errors = [line for line in err.getvalue().splitlines() if "error: " in line]
    if code == 1 and ("--json",) not in options:  # with --json the errors go to stdout, as JSON
        assert errors, err.getvalue()
    for line in errors:  # located, or one of the two problems that have no place in a file
        assert re.match(r".+:\d+:\d+: error: ", line) or line.startswith(UNLOCATED), err.getvalue()


UNLOCATED = ("error: no such file", "error: unknown param")  # docs/errors.md: a missing file, an unknown --set


@fuzz(10)
@given(st.text(max_size=12))
def test_input_shapes_parse_or_are_refused(text):
    try:
        shape = parse_input(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert 1 <= len(shape) <= 3 and min(shape) >= 1
