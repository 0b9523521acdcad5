"""The bad-spec corpus: every file in tests/bad_specs/ fails with exactly the error its header records.

Each corpus file starts with comment lines:

    # expect: [OTHER_FILE:]LINE:COL: message substring   (one line per expected error)
    # path: spec path of the first error                 (optional)
    # hint: hint substring of the first error            (optional)

`OTHER_FILE` names a file in the same folder when the error lies in another
file (e.g. a cyclic `extends:`). Files without an `# expect:` header are helpers
(the other half of a cycle). Every case runs through the real entry point.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BAD = Path(__file__).resolve().parent / "bad_specs"
ENTRY = "from archc.cli import entry; entry()"
EXPECT = re.compile(r"(?:(?P<file>[\w.-]+\.yaml):)?(?P<line>\d+):(?P<col>\d+): (?P<message>.+)")


@dataclass(frozen=True)
class Expected:
    errors: tuple[tuple[str, int, int, str], ...]  # (file, line, col, message substring)
    path: str | None
    hint: str | None


def read_header(spec: Path) -> Expected | None:
    errors, fields = [], {}
    for raw in spec.read_bytes().splitlines():
        if not raw.startswith(b"# "):
            break
        key, _, value = raw.decode("ascii")[2:].partition(": ")
        if key == "expect":
            match = EXPECT.fullmatch(value)
            file = str(spec.parent / match["file"]) if match["file"] else str(spec)
            errors.append((file, int(match["line"]), int(match["col"]), match["message"]))
        else:
            fields[key] = value
    if not errors:
        return None
    return Expected(tuple(errors), fields.get("path"), fields.get("hint"))


CORPUS = sorted(p for p in BAD.rglob("*.yaml") if read_header(p))
IDS = [str(p.relative_to(BAD)) for p in CORPUS]


def check_stderr(stderr: str, expected: Expected) -> None:
    """Every expected error appears as `file:line:col: error: ...`, with its path and hint."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    for file, line, col, message in expected.errors:
        prefix = f"{file}:{line}:{col}: error: "
        found = [text for text in lines if text.startswith(prefix)]
        assert found, f"no error at {file}:{line}:{col} in:\n{stderr}"
        assert any(message in text for text in found), f"expected {message!r} in:\n{stderr}"
    if expected.path is not None:
        assert f"   = path: {expected.path}" in lines, stderr
    if expected.hint is not None:
        assert any(text.startswith("   = hint: ") and expected.hint in text for text in lines), stderr


def test_corpus_size():
    assert len(CORPUS) >= 60


@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_validate_reports_the_recorded_error(spec):
    result = subprocess.run([sys.executable, "-c", ENTRY, "validate", str(spec)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    check_stderr(result.stderr, read_header(spec))


def test_directory_given_as_file():
    result = subprocess.run([sys.executable, "-c", ENTRY, "validate", str(BAD)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{BAD}:1:1: error: cannot read '{BAD}': it is a directory, not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_given_as_file(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    result = subprocess.run([sys.executable, "-c", ENTRY, "validate", str(missing)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: no such file: '{missing}'")
    assert "Traceback" not in result.stderr


def _run_in_one_process(argvs: list[list[str]]) -> list[dict]:
    """Run `archc.cli.run(argv)` for each argv in one subprocess; returns exit code and stderr of each."""
    driver = (
        "import contextlib, io, json, sys\n"
        "from archc.cli import run\n"
        "results = []\n"
        "for argv in json.load(sys.stdin):\n"
        "    err, out = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):\n"
        "        code = run(argv)\n"
        "    results.append({'code': code, 'stderr': err.getvalue(), 'stdout': out.getvalue()})\n"
        "print(json.dumps(results))\n"
    )
    result = subprocess.run([sys.executable, "-c", driver], input=json.dumps(argvs), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _commands() -> list[list[str]]:
    """Every command that reads a spec, with the arguments it needs to be complete."""
    from archc.cli import _register, main

    _register()
    commands = [["validate"], ["shapes"]]
    if "graph" in main.commands:
        commands.append(["graph"])
    if "build" in main.commands:
        commands.append(["build"])
    if "export" in main.commands:
        commands.append(["export", "--onnx"])
    return commands


@pytest.mark.parametrize("command", _commands(), ids=lambda c: c[0])
def test_every_command_handles_the_corpus(command, tmp_path):
    """Each command exits 1 with the recorded error on stderr for every corpus file."""
    out_args = {"graph": ["-o", str(tmp_path / "g.dot")], "build": ["-o", str(tmp_path / "m.pt")],
                "export": ["-o", str(tmp_path / "m.onnx")]}.get(command[0], [])
    results = _run_in_one_process([[*command, str(spec), *out_args] for spec in CORPUS])
    for spec, result in zip(CORPUS, results):
        assert result["code"] == 1, (spec, result)
        check_stderr(result["stderr"], read_header(spec))
    assert not list(tmp_path.iterdir()), "no output file may appear for a bad spec"
