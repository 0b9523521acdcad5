"""Hostile specs are refused, not obeyed: each by an explicit limit, with a location, in bounded time and memory.

Every case asserts the refusal (a SpecError), where it points (line:col), and a time bound;
`test_refusals_stay_within_memory` runs them all again in a process whose address space is
capped, so none of them can quietly allocate gigabytes on the way to its error.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import archc
from archc import limits
from archc.errors import SpecError

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
    ("comprehension", conv_out("len([x for x in range(3)])"), 4, 17, "'ListComp' is not allowed in expressions"),
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
    ("alias-bomb", alias_bomb(), 8, 5, "the document expands to more than 200000 YAML nodes"),
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


def test_the_parameter_limit_can_be_raised_or_lowered():
    graph = archc.analyze(ABSURD, max_params=30_000_000_000)  # static: nothing is allocated
    assert graph.total_params == 3072 * 200000 + 200000 + 200000 * 100000 + 100000
    with pytest.raises(SpecError, match="more than the limit 100"):
        archc.analyze(HEAD + "layers: [flatten, {linear: {out: 10}}]\n", max_params=100)


def test_a_spec_file_over_the_size_limit_is_refused_unread(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_bytes(b"#" * (limits.MAX_FILE_BYTES + 1))
    exc, seconds = refusal(str(spec))
    assert f"specs are limited to {limits.MAX_FILE_BYTES} bytes" in exc.diagnostics[0].message
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
            shown = "2 MiB" if name == "MAX_FILE_BYTES" else f"{value:,}"
            assert f"| `{name}` | {shown} |" in doc, name
    example = doc.split("(`archc validate tests/bad_specs/several_errors.yaml`):\n\n```\n")[1].split("```")[0]
    result = subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", "validate",
                             "tests/bad_specs/several_errors.yaml"], capture_output=True, text=True, cwd=root)
    assert result.stderr == example
