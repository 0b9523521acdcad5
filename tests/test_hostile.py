"""Hostile specs are refused, not obeyed: each by an explicit limit, with a location, in bounded time and memory.

Every case asserts the refusal (a SpecError), where it points (line:col), and a time bound;
`test_refusals_stay_within_memory` runs them all again in a process whose address space is
capped, so none of them can quietly allocate gigabytes on the way to its error.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SPECS

import archc
from archc import limits
from archc.errors import SpecError
from archc.pipeline import Source

SECONDS = 5
HEAD = "name: hostile\ninput: [3, 32, 32]\n"


def conv_out(expression: str) -> str:
    """A spec whose line 4, column 17 holds `expression` as a conv's `out`."""
    return HEAD + f"layers:\n  - conv: {{out: {json.dumps(expression)}, kernel: 3}}\n"


def nested_groups(depth: int) -> str:
    lines = [HEAD + "layers:"] + ["  " * (i + 1) + "- group:" for i in range(depth)] + ["  " * (depth + 1) + "- relu"]
    return "\n".join(lines) + "\n"


def block_chain(length: int) -> str:
    blocks = "".join(f"  b{i}: {{layers: [b{i + 1}]}}\n" for i in range(length))
    return HEAD + f"blocks:\n{blocks}  b{length}: {{layers: [relu]}}\nlayers: [b0]\n"


def alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return HEAD + "\n".join(lines) + "\nlayers: [relu]\n"


# Two linear layers: 3072 * 200000 + 200000 + 200000 * 100000 + 100000 parameters (80 GB as float32).
ABSURD = HEAD + "layers: [flatten, {linear: {out: 200000}}, {linear: {out: 100000}}]\n"

# (id, spec text, line, col, message substring)
CASES = [
    ("python-tag", HEAD + "layers: !!python/object/apply:os.system ['touch archc-pwned']\n", 3, 9,
     "the YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("python-name-tag", HEAD + "layers: [!!python/name:os.system relu]\n", 3, 10,
     "the YAML tag '!!python/name:os.system' is not allowed"),
    ("local-tag", HEAD + "layers: [!shout relu]\n", 3, 10, "the YAML tag '!shout' is not allowed"),
    ("binary-tag", HEAD + "layers: [{conv: {out: !!binary aGk=, kernel: 3}}]\n", 3, 23,
     "the YAML tag '!!binary' is not allowed"),
    ("timestamp-tag", HEAD + "layers: [{conv: {out: !!timestamp 2024-01-01, kernel: 3}}]\n", 3, 23,
     "the YAML tag '!!timestamp' is not allowed"),
    ("call-import", conv_out("__import__('os').system('ls')"), 4, 17, "attribute access ('.system') is not allowed"),
    ("call-open", conv_out("open('/etc/passwd')"), 4, 17, "cannot call 'open' in an expression"),
    ("call-eval", conv_out("eval('1')"), 4, 17, "cannot call 'eval' in an expression"),
    ("attribute", conv_out("().__class__.__bases__"), 4, 17, "attribute access ('.__bases__') is not allowed"),
    ("dunder-name", conv_out("__builtins__"), 4, 17, "undefined name '__builtins__'"),
    ("lambda", conv_out("(lambda: 3)()"), 4, 17, "'Lambda' is not allowed in expressions"),
    ("comprehension-size", conv_out("len([0 for i in range(10000) for j in range(10000)])"), 4, 17,
     "the result has more than 10000 items"),
    ("comprehension-steps", conv_out("len([0 for i in range(10000) for j in range(10000) if j < 0])"), 4, 17,
     "the comprehensions run more than 100,000 iterations"),
    ("comprehension-in-loop", HEAD + "layers:\n  - for: i\n    in: 10000\n    do: [{dropout: {p: "
     "'len([len(range(9999)) for j in range(100)]) / 1000'}}]\n", 6, 24,
     "take more than 3,000,000 units of work"),
    ("comprehension-set", conv_out("len({x for x in range(3)})"), 4, 17, "'SetComp' is not allowed in expressions"),
    ("generator", conv_out("sum(x for x in range(3))"), 4, 17, "'GeneratorExp' is not allowed in expressions"),
    ("walrus", conv_out("(x := 3)"), 4, 17, "'NamedExpr' is not allowed in expressions"),
    ("power-tower", conv_out("9 ** 9 ** 9"), 4, 17, "9 ** 387420489 is too large"),
    ("wide-product", conv_out("(2 ** 60) * (2 ** 60)"), 4, 17, "integer result is wider than 64 bits"),
    ("list-repeat", conv_out("len([0] * 10 ** 9)"), 4, 17, "repeating a sequence 1000000000 times"),
    ("string-repeat", conv_out("len('a' * 10 ** 9)"), 4, 17, "repeating a sequence 1000000000 times"),
    ("nested-repeat", conv_out("len(sum([[0] * 10000] * 10000, []))"), 4, 17, "the result has more than 10000 items"),
    ("huge-range", conv_out("len(range(10 ** 18))"), 4, 17, "range of 1000000000000000000 items"),
    ("deep-parens", conv_out("(" * 10000 + "1" + ")" * 10000), 4, 17, "characters long; the limit is 1000"),
    ("long-expression", conv_out("+".join(["1"] * 400)), 4, 17, "expression has 1199 parts; the limit is 200"),
    ("long-unary", conv_out("-" * 900 + "1"), 4, 17, "parts; the limit is 200"),
    ("alias-bomb", alias_bomb(), 7, 5, "the document's aliases expand it to more than 100,000 YAML nodes"),
    ("recursive-alias", HEAD + "params:\n  w: &w [1, *w]\nlayers: [relu]\n", 4, 6,
     "a YAML alias refers to a node that contains it"),
    ("deep-yaml", HEAD + "layers: " + "[" * 10000 + "]" * 10000 + "\n", 1, 1, "the YAML is nested too deeply"),
    ("loop-count", HEAD + "layers:\n  - for: i\n    in: 10**9\n    do: [relu]\n", 5, 9,
     "the loop runs 1000000000 times, more than the limit 10000"),
    ("nested-loops", HEAD + "layers:\n  - for: i\n    in: 10000\n    do:\n      - for: j\n        in: 10000\n"
     "        do: [relu]\n", 9, 14, "more than 100,000 expansion steps"),
    ("self-recursive-block", HEAD + "blocks:\n  a: {layers: [relu, a]}\nlayers: [a]\n", 4, 22,
     "block 'a' uses itself (a -> a)"),
    ("deep-block-chain", block_chain(200), 68, 17, "the spec nests deeper than 64 levels"),
    ("deep-groups", nested_groups(100), 68, 133, "the spec nests deeper than 64 levels"),
    ("absurd-model", ABSURD, 3, 1, "the model has 20,614,700,000 parameters, more than the limit 10,000,000,000"),
    ("round-ndigits", conv_out("round(8, -10 ** 18)"), 4, 17, "expected a positive integer, found 0"),
    ("percent-width", conv_out("len('%999999999d' % 1)"), 4, 17, "'%' string formatting is not allowed"),
    ("percent-precision", conv_out("len('%.999999999f' % (1,))"), 4, 17, "'%' string formatting is not allowed"),
    ("quadratic-sum", HEAD + "layers:\n  - for: i\n    in: 10000\n    do: [{dropout: {p: "
     "'len(sum([[0]] * 4999, [])) / 10**9'}}]\n", 6, 24, "take more than 3,000,000 units of work"),
    ("int-tag", conv_out("x").replace('"x"', "!!int 8"), 4, 17, "the YAML tag '!!int' is not allowed"),
    ("str-tag", HEAD.replace("hostile", "!!str hostile") + "layers: [relu]\n", 1, 7, "the YAML tag '!!str' is not allowed"),
    ("empty-int-tag", "name: !!int\n" + HEAD.split("\n", 1)[1] + "layers: [relu]\n", 1, 7,
     "the YAML tag '!!int' is not allowed"),
    ("huge-integer", HEAD + "layers: [{conv: {out: " + "9" * 5000 + ", kernel: 3}}]\n", 3, 23, "cannot read this value"),
    ("loop-2-63", HEAD + "layers:\n  - for: i\n    in: 9223372036854775808\n    do: [relu]\n", 5, 9,
     "the loop runs 9223372036854775808 times"),
    ("bare-for", HEAD + "layers:\n  - for\n", 4, 5, "'for' needs its keys"),
    ("param-key-int", HEAD + "params: {32: 2}\nlayers: [{conv: {out: nope, kernel: 3}}]\n", 3, 10,
     "the param name 32 is not a name"),
    ("param-key-null", HEAD + "params: {null: 2}\nlayers: [{conv: {out: nope, kernel: 3}}]\n", 3, 10,
     "the param name None is not a name"),
    ("block-param-key-bool", HEAD + "blocks:\n  b: {params: {true: 1}, layers: [relu]}\nlayers: [b]\n", 4, 16,
     "the param name True is not a name"),
    ("flow-2-mib", HEAD + "layers: [" + ", ".join(["relu"] * 330_000) + "]\n", 3, 599_956,
     "the document has more than 100,000 YAML nodes"),
    ("input-2-63", HEAD.replace("[3, 32, 32]", "[1, 9223372036854775812, 4]") + "layers: [relu]\n", 2, 8,
     "the input has 36,893,488,147,419,103,248 elements per sample"),
    ("grown-past-2-48", HEAD.replace("[3, 32, 32]", "[1, 65536, 65536]") + "layers: [{conv: {out: 65537, kernel: 1}}]\n",
     3, 10, "conv '0' makes 281,479,271,677,952 elements per sample"),
]
IDS = [case[0] for case in CASES]


def refusal(text: str) -> tuple[SpecError, float]:
    start = time.monotonic()
    with pytest.raises(SpecError) as caught:
        archc.analyze(text)
    return caught.value, time.monotonic() - start


@pytest.mark.parametrize("name, text, line, col, message", CASES, ids=IDS)
def test_hostile_spec_is_refused_with_a_location_in_bounded_time(name, text, line, col, message, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a spec that got to run os.system would leave its file
    exc, seconds = refusal(text)
    first = exc.diagnostics[0]
    assert message in first.message, str(exc)
    assert (first.span.line, first.span.col) == (line, col), str(exc)
    assert seconds < SECONDS
    assert not list(tmp_path.iterdir())


def test_a_loop_of_the_most_merges_allowed_expands_in_linear_time():
    """Found by the long fuzz: each unnamed merge searched its id from `add`, `add_2`, ... (n^2 / 2
    steps for n merges: 50 million for a 10,000-step loop, about 45 s)."""
    text = (f"name: many\ninput: [4, 8, 8]\nlayers:\n  - for: i\n    in: {limits.MAX_LOOP_ITERATIONS}\n"
            "    do: [{add: {_a: [], _b: []}}]\n")
    start = time.monotonic()
    graph = archc.analyze(archc.Source.text(text))
    assert time.monotonic() - start < 15
    ids = [node.id for node in graph.nodes]
    assert ids[:3] == ["add", "add_2", "add_3"] and ids[-1] == f"add_{limits.MAX_LOOP_ITERATIONS}"


def test_the_parameter_limit_can_be_raised_or_lowered():
    graph = archc.analyze(ABSURD, max_params=30_000_000_000)  # static: nothing is allocated
    assert graph.total_params == 3072 * 200000 + 200000 + 200000 * 100000 + 100000
    with pytest.raises(SpecError, match="more than the limit 100"):
        archc.analyze(HEAD + "layers: [flatten, {linear: {out: 10}}]\n", max_params=100)


def test_a_spec_file_over_the_size_limit_is_refused_unread(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_bytes(b"#" * (limits.MAX_FILE_BYTES + 1))
    exc, seconds = refusal(str(spec))
    assert f"spec files are limited to {limits.MAX_FILE_BYTES:,} bytes" in exc.diagnostics[0].message
    assert exc.diagnostics[0].span.line == 1 and seconds < SECONDS


MEMORY_DRIVER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import archc
results = []
for text in json.load(sys.stdin):
    try:
        archc.analyze(text)
        results.append("accepted")
    except archc.SpecError as exc:
        results.append(exc.diagnostics[0].message)
print(json.dumps(results))
"""


def test_refusals_stay_within_memory():
    """All hostile cases again, in one process limited to 1 GiB of address space."""
    texts = [case[1] for case in CASES]
    result = subprocess.run([sys.executable, "-c", MEMORY_DRIVER], input=json.dumps(texts), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for (name, _, _, _, message), got in zip(CASES, json.loads(result.stdout)):
        assert message in got, name


def test_build_of_a_twenty_billion_parameter_spec_stops_before_torch_allocates(tmp_path):
    """`archc build` refuses at the static stage: exit 1 within seconds, far below the 80 GB the weights need."""
    spec = tmp_path / "absurd.yaml"
    spec.write_text(ABSURD)
    out = tmp_path / "model.pt"
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", "build", str(spec),
                             "-o", str(out)], capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    assert result.returncode == 1, result.stderr
    assert f"{spec}:3:1: error: the model has 20,614,700,000 parameters, more than the limit 10,000,000,000" \
        in result.stderr
    assert "--max-params" in result.stderr and "Traceback" not in result.stderr
    assert seconds < 15  # including the import of torch, on a busy machine
    assert peak_kib < 3 * 1024 * 1024, f"peak {peak_kib / 1024:.0f} MiB"
    assert not out.exists() and not list(tmp_path.glob(".model.pt*"))


def test_max_params_flag_lowers_the_limit(tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(HEAD + "layers: [flatten, {linear: {out: 10}}]\n")
    result = subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", "shapes", str(spec),
                             "--max-params", "1000"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "the model has 30,730 parameters, more than the limit 1,000" in result.stderr


@pytest.mark.parametrize("value, message", [
    ("!!python/object/apply:os.system ['ls']", "the YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("&a [*a]", "YAML aliases (*name) are not allowed"),
    ("!!binary aGk=", "the YAML tag '!!binary' is not allowed"),
])
def test_hostile_set_values_are_usage_errors(value, message, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text(HEAD + "params: {w: 4}\nlayers: [{conv: {out: w, kernel: 3}}]\n")
    result = subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", "shapes", str(spec),
                             "--set", f"w={value}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_docs_show_the_real_limits_and_a_real_error():
    """docs/errors.md: the limits table matches archc/limits.py, and the example error is a real run's output."""
    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "errors.md").read_text()
    for name in dir(limits):
        if name.startswith("MAX_"):
            value = getattr(limits, name)
            shown = f"{value // 2 ** 20} MiB" if value % 2 ** 20 == 0 and name.endswith("_BYTES") else \
                f"{value // 2 ** 10} KiB" if name.endswith("_BYTES") else f"{value:,}"
            assert f"| `{name}` | {shown} |" in doc, name
    example = doc.split("(`archc validate tests/bad_specs/several_errors.yaml`):\n\n```\n")[1].split("```")[0]
    result = subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", "validate",
                             "tests/bad_specs/several_errors.yaml"], capture_output=True, text=True, cwd=root)
    assert result.stderr == example


# -- hostile paths: only regular files are read, each problem at the referring line ------------------

ENTRY = "from archc.cli import entry; entry()"


def cli(*args, timeout=60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.mark.parametrize("kind", ["fifo", "directory", "char-device"])
@pytest.mark.parametrize("where", ["file", "extends", "imports"])
def test_a_non_regular_file_is_refused_unread_at_the_referring_line(kind, where, tmp_path):
    target = {"fifo": tmp_path / "pipe.yaml", "directory": tmp_path / "dir.yaml", "char-device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(target)  # nobody writes it: reading it would block forever
    elif kind == "directory":
        target.mkdir()
    if where == "file":
        spec, line, col = target, 1, 1
    else:
        spec = tmp_path / "spec.yaml"
        spec.write_text(HEAD + f"{where}: {target}\nlayers: [relu]\n")
        line, col = 3, len(where) + 3
    start = time.monotonic()
    result = cli("validate", spec, timeout=30)
    assert time.monotonic() - start < 20 and result.returncode == 1, result.stderr
    what = {"fifo": "a FIFO (named pipe)", "directory": "a directory", "char-device": "a character device"}[kind]
    assert f"{spec}:{line}:{col}: error: " in result.stderr and f"it is {what}, not a regular file" in result.stderr


@pytest.mark.parametrize("target", ["/proc/self/environ", "credentials.txt"])
def test_a_file_that_is_not_a_spec_is_never_quoted(target, tmp_path):
    """Secrets in the environment or in a text file a hostile spec names never reach the output."""
    secret = "s3cr3t-token-that-must-not-leak"
    (tmp_path / "credentials.txt").write_text(f"API_TOKEN={secret}\nOTHER: {secret}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + f"extends: {target}\nlayers: [relu]\n")
    result = cli("validate", spec, env={**os.environ, "ARCHC_TEST_SECRET": secret})
    assert result.returncode == 1 and f"{spec}:3:10: error: cannot extend '{target}'" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_imports_fanning_out_are_read_once_each(tmp_path):
    """16 files, each importing the next ten times: 10**15 loads without a cache, 16 with one."""
    for k in range(16):
        imports = f"imports: [{', '.join([f'f{k + 1}.yaml'] * 10)}]\n" if k < 15 else ""
        (tmp_path / f"f{k}.yaml").write_text(imports + f"blocks:\n  b{k}: {{layers: [relu]}}\n")
    spec = tmp_path / "top.yaml"
    spec.write_text(HEAD + "imports: [f0.yaml]\nlayers: [b15, b0]\n")
    start = time.process_time()
    doc = archc.load_spec(spec)
    graph = archc.analyze(spec)
    assert time.process_time() - start < 2 and len(graph.nodes) == 2
    assert len(doc.sources) == 17 and len(set(doc.sources)) == 17


def test_the_number_of_files_and_references_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_REFERENCES", 20)
    (tmp_path / "lib.yaml").write_text("blocks:\n  b: {layers: [relu]}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + f"imports: [{', '.join(['lib.yaml'] * 30)}]\nlayers: [b]\n")
    exc, _ = refusal(str(spec))
    assert "resolves more than 20 extends/imports" in exc.diagnostics[0].message
    assert exc.diagnostics[0].span.line == 3
    monkeypatch.setattr(limits, "MAX_SPEC_FILES", 3)
    for k in range(4):
        (tmp_path / f"l{k}.yaml").write_text("blocks: {}\n")
    spec.write_text(HEAD + "imports: [l0.yaml, l1.yaml, l2.yaml, l3.yaml]\nlayers: [relu]\n")
    exc, _ = refusal(str(spec))
    assert "reads more than 3 files" in exc.diagnostics[0].message and exc.diagnostics[0].span.line == 3


# -- names: every accepted name works in every backend --------------------------------------------------

NAMES_SPEC = r'''name: "v² \\ \"quoted\" <b>none"
input: [3, 8, 8]
layers:
  - conv: {name: class, out: 4, kernel: 3, padding: 1}
  - conv: {name: block1-0, out: 4, kernel: 3, padding: 1}
  - relu: {name: "back\\"}
  - relu: {name: 'q"uote'}
  - relu: {name: "a:b"}
  - relu: {name: "<b>"}
  - relu: {name: "ﬁ"}
  - relu: {name: "fi"}
  - group:
      name: "x y"
      layers:
        - conv: {name: def, out: 4, kernel: 1}
        - add: {_a: [relu: {name: "in"}], _b: []}
  - flatten
  - linear: {name: é, out: 3}
'''


def test_names_torch_accepts_work_in_every_backend():
    """Keywords, '-', spaces, quotes, backslashes, ':' and non-ASCII: built, emitted, drawn."""
    import shutil

    import torch

    from archc.emit.torch_module import class_name

    model = archc.build(NAMES_SPEC, seed=0).eval()
    assert {"class.weight", "block1-0.weight", "x y.def.weight", "é.weight"} <= set(model.state_dict())
    namespace: dict = {}
    exec(compile(archc.emit_python(NAMES_SPEC), "<emitted>", "exec"), namespace)  # noqa: S102
    emitted = namespace[class_name(archc.analyze(NAMES_SPEC).name)]()
    assert type(emitted).__name__.isidentifier()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), emitted.eval()(x))
    dot = archc.graph(NAMES_SPEC).source
    if shutil.which("dot"):
        import xml.etree.ElementTree as ET

        done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        texts = set(ET.fromstring(done.stdout).itertext())
        for name in ("back\\", 'q"uote', "a:b", "<b>", "ﬁ", "fi", "é", "v² \\ \"quoted\" <b>none"):
            assert name in texts, (name, sorted(texts))


def test_an_init_rule_under_a_null_key_is_a_located_error():
    # found by the long fuzz of 2026-12-02: the schema's error path named a key the spec does not have
    text = "name: n\ninput: [1, 4, 4]\nlayers: [flatten, {linear: {out: 5}}]\ninit:\n  null: {weight: {}, bias: 0}\n"
    exc, _ = refusal(Source.text(text))
    assert all(d.span is not None for d in exc.diagnostics) and exc.diagnostics[0].span.line == 5


@pytest.mark.skipif(not __import__("shutil").which("dot"), reason="needs Graphviz's dot")
def test_an_empty_model_name_draws_as_dot_reads_it():
    # found by the long fuzz of 2026-12-02: '<b></b>' (the empty title) is a syntax error for dot
    source = archc.graph({"name": "", "input": [1, 4, 4], "layers": ["relu", "flatten", {"linear": {"out": 5}}]}).source
    assert "<b></b>" not in source
    done = subprocess.run(["dot", "-Tcanon"], input=source.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.parametrize("model_name", ["none", "class", "v²", "2024", "a b", "\x00x"])
def test_any_model_name_gives_a_class_python_accepts(model_name):
    import keyword

    from archc.emit.torch_module import class_name

    name = class_name(model_name)
    assert name.isidentifier() and name.isascii() and not keyword.iskeyword(name)


def test_the_static_list_of_torch_attributes_covers_the_installed_torch():
    """In a fresh process: other tests may add attributes to module instances of their own."""
    code = ("from torch import nn; from archc.names import TORCH_ATTRIBUTES as known; "
            "found = {n for m in (nn.Module(), nn.Sequential(), nn.ModuleDict()) for n in dir(m) "
            "if not (n.startswith('__') and n.endswith('__'))}; print(sorted(found - known))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


# -- init rules: what validates builds -----------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    "conv: {weight: {uniform: {a: 0.5, b: 0.5}}, bias: {normal: {std: 0}}}",
    "linear: {weight: {constant: {val: 3.0e+38}}, bias: -3.0e+38}",
    "batchnorm: {weight: {trunc_normal: {std: 0.01, a: -0.02, b: 0.02}}, bias: {uniform: {a: -1, b: 1}}}",
    "linear: {weight: {orthogonal: {gain: -2}}}",
    "conv: {weight: {kaiming_uniform: {a: -5, mode: fan_out, nonlinearity: leaky_relu}}}",
])
def test_init_rules_at_the_edge_of_what_is_allowed_build(rule):
    spec = HEAD + f"init:\n  {rule}\nlayers: [{{conv: {{out: 4, kernel: 3}}}}, batchnorm, flatten, {{linear: {{out: 3}}}}]\n"
    archc.build(spec, seed=0)


# -- YAML: merge keys, tags, size, the error cap ----------------------------------------------------------

def test_merge_keys_work_as_yaml_defines_them():
    from archc.loader import parse_yaml

    doc = parse_yaml("a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  <<: [*a, *b]\n  z: 5\n", "m.yaml")
    assert dict(doc["c"]) == {"x": 1, "y": 2, "z": 5}  # explicit keys win; earlier merged mappings win
    graph = archc.analyze(HEAD + "params: {w: 4}\nbase: &c {out: w, kernel: 3}\n".replace("base", "description")
                          .replace("description: &c {out: w, kernel: 3}", "description: x") +
                          "layers:\n  - conv: &c {out: 2, kernel: 3}\n  - conv: {<<: *c, out: 8}\n")
    assert [n.shape[0] for n in graph.nodes] == [2, 8]
    with pytest.raises(SpecError, match="duplicate key 'out'"):
        parse_yaml("c: {<<: {a: 1}, out: 1, out: 2}\n", "m.yaml")


def test_many_errors_are_capped_like_a_compilers(tmp_path):
    spec = tmp_path / "many.yaml"
    spec.write_text(HEAD + "layers:\n" + "  - nope\n" * 25_000)
    start = time.process_time()
    exc, _ = refusal(str(spec))
    text = str(exc)
    assert time.process_time() - start < 2
    assert len(exc.diagnostics) == limits.MAX_ERRORS and exc.count == 25_000
    assert text.endswith("... and 24,950 more errors (only the first 50 are shown)")
    result = cli("validate", spec)
    assert result.returncode == 1 and "with 25000 error(s)" in result.stderr


# -- command lines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["shapes", "--set", "w=!!int 5"], "the YAML tag '!!int' is not allowed in a --set value"),
    (["shapes", "--input", ""], "is not a shape like 3x224x224"),
    (["export", "--onnx", "--opset", "999"], "opset 999 is newer than the installed onnx knows"),
])
def test_cli_values_that_mean_nothing_are_usage_errors(args, message, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text(HEAD + "params: {w: 4}\nlayers: [{conv: {out: w, kernel: 3}}]\n")
    result = cli(*args[:1], spec, *args[1:], "-o" if args[0] == "export" else "--depth",
                 tmp_path / "m.onnx" if args[0] == "export" else "0", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


def test_an_export_or_bench_the_machine_cannot_hold_is_refused_before_building(tmp_path, monkeypatch, capsys):
    import archc.capacity
    from archc.cli import run

    monkeypatch.setattr(archc.capacity, "available_bytes", lambda: 100_000)  # less than LeNet-5's 62k params
    spec, out = SPECS / "lenet5.yaml", tmp_path / "l.onnx"
    assert run(["export", str(spec), "--onnx", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"nothing written to {out}: exporting, which runs the model on an example batch and ONNX Runtime" in err
    assert "at batch 2, 2 times; see archc memory), but there are 97.7 KiB free" in err and "--input" in err
    assert run(["bench", str(spec), "--device", "cpu", "--runtime", "torch", "--batch", "64"]) == 1
    assert "benchmarking, which runs the model at batch 64, needs about" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_graph_too_large_to_render_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import archc.cli.graph as graph_cli
    from archc.cli import run

    monkeypatch.setattr(graph_cli, "MAX_RENDERED_NODES", 5)
    spec = tmp_path / "g.yaml"
    spec.write_text(HEAD + "layers:\n  - for: i\n    in: 10\n    do: [relu]\n")
    assert run(["graph", str(spec), "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert "the diagram has 12 nodes, more than Graphviz lays out reliably (5)" in err and "--depth" in err
    assert run(["graph", str(spec), "-o", str(tmp_path / "g.dot")]) == 0  # DOT text has no such limit


def test_a_crashing_dot_is_reported_not_an_internal_error(tmp_path, monkeypatch, capsys):
    import graphviz

    from archc.cli import run

    def crash(self, format=None, **kwargs):
        raise graphviz.CalledProcessError(-11, ["dot"], stderr=b"out of memory\n")

    monkeypatch.setattr(graphviz.Digraph, "pipe", crash)
    spec = tmp_path / "g.yaml"
    spec.write_text(HEAD + "layers: [relu]\n")
    assert run(["graph", str(spec), "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert "Graphviz's dot failed (exit -11: out of memory)" in err and "--depth" in err
    assert not (tmp_path / "g.svg").exists()


# -- tampered model files ----------------------------------------------------------------------------------

def _saved(tmp_path, change=None) -> Path:
    import torch

    path = tmp_path / "m.pt"
    archc.save(archc.build(HEAD + "layers: [{conv: {out: 2, kernel: 3}}]\n", seed=0), path)
    if change:
        data = torch.load(path, weights_only=True)
        change(data)
        torch.save(data, path)
    return path


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.update(spec="name: x"), "its spec is a str, not a mapping"),
    (lambda d: d.update(params=[1, 2]), "its params are a list"),
    (lambda d: d["spec"].update(extends="/dev/zero"), "its spec names other files"),
    (lambda d: d.update(input_shape=[3, 0]), "is not 1 to 3 positive sizes"),
    (lambda d: d.update(state_dict={"w": 1}), "its state_dict is not a mapping of names to tensors"),
])
def test_a_tampered_model_file_is_refused_before_any_work(change, reason, tmp_path):
    with pytest.raises(SpecError, match=reason):
        archc.load(_saved(tmp_path, change))


def test_a_zip_bomb_is_refused_from_its_directory_unread(tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w") as entry:
            for _ in range(64):
                entry.write(bytes(1 << 20))  # 64 MiB of zeros: some 64 KiB on disk
    start = time.process_time()
    with pytest.raises(SpecError, match="its entries declare 67,108,864 bytes in a"):
        archc.load(bomb)
    assert time.process_time() - start < 0.5


def test_a_model_file_that_is_a_fifo_or_device_is_refused(tmp_path):
    fifo = tmp_path / "m.pt"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(SpecError, match="not a regular file"):
            archc.load(path)


# -- every refusal fast and small ----------------------------------------------------------------------

FILE_DRIVER = """
import json, sys, time
import archc
out = []
for path in json.load(sys.stdin):
    start = time.process_time()
    try:
        archc.analyze(path)
        out.append((path, "accepted", 0))
    except archc.SpecError as exc:
        str(exc)
        out.append((path, exc.diagnostics[0].message, time.process_time() - start))
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))  # ru_maxrss would
print(json.dumps({"results": out, "peak_mib": int(peak.split()[1]) / 1024}))  # count the parent's size at fork
"""


def test_file_refusals_each_take_under_two_seconds_and_all_under_200_mib(tmp_path):
    """The corpus and the large hostile files, in one process: CPU time per refusal, peak memory overall."""
    big_flow = tmp_path / "flow.yaml"
    big_flow.write_text(HEAD + "layers: [" + ", ".join(["relu"] * 330_000) + "]\n")  # 2 MiB, no anchors
    many = tmp_path / "many.yaml"
    many.write_text(HEAD + "layers:\n" + "  - nope\n" * 25_000)
    oversized = tmp_path / "oversized.yaml"
    oversized.write_bytes(b"#" * (limits.MAX_FILE_BYTES + 1))
    corpus = sorted(str(p) for p in (Path(__file__).parent / "bad_specs").rglob("*.yaml"))
    paths = [str(big_flow), str(many), str(oversized), "/dev/zero", "/proc/self/environ", *corpus]
    result = subprocess.run([sys.executable, "-c", FILE_DRIVER], input=json.dumps(paths), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    slow = [(path, seconds) for path, _, seconds in report["results"] if seconds >= 2]
    assert not slow, slow
    assert report["peak_mib"] < 200, report["peak_mib"]
    assert "bomb" not in report["results"][0][1] and "more than 100,000 YAML nodes" in report["results"][0][1]
