"""Every `archc` command the docs show in ```bash / ```sh blocks runs and succeeds, and the pre-commit hook
file names a real command.

Docs: README.md, docs/*.md, examples/README.md. Each document's commands run in order (a later one may use
a file an earlier one wrote) in a scratch folder holding copies of specs/, docs/ and examples/, so relative
paths work as in the repository and nothing is written there. Shell globs are expanded and `> FILE`
redirections capture stdout, as a shell would. Timing is not what is checked: `bench` commands get
`--repeats 2 --warmup 1 --batch 2` appended (the last value of an option wins) and `export` the CPU provider.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
import shutil

import pytest
import torch
import yaml

from archc.cli import _register, main, run
from conftest import ROOT

FAST = ("README.md", "docs/spec-language.md")
_register()  # the commands add themselves to `main` on import
DOCS = sorted([ROOT / "README.md", ROOT / "examples" / "README.md", *(ROOT / "docs").glob("*.md")])


def commands(path) -> list[str]:
    """The `archc ...` command lines of a document's bash/sh blocks (comments dropped, `a && b` split)."""
    found = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.split(" #")[0].strip()
                if part.startswith("archc "):
                    found.append(part)
    return found


def argv(command: str) -> tuple[list[str], str | None]:
    """The arguments after `archc`, globs expanded, and the file of a `> FILE` redirection."""
    words, target = shlex.split(command)[1:], None
    if ">" in words:
        at = words.index(">")
        words, target = words[:at] + words[at + 2:], words[at + 1]
    expanded = []
    for word in words:
        expanded += sorted(glob.glob(word)) if any(c in word for c in "*?[") and not word.startswith("-") else [word]
    if expanded[0] == "bench":
        expanded += ["--repeats", "2", "--warmup", "1", "--batch", "2"]
    if expanded[0] == "export":
        expanded.append("--provider=cpu")
    return expanded, target


def runnable(args: list[str]) -> str | None:
    """Why a command cannot run on this machine, or None."""
    if "cuda" in args and not torch.cuda.is_available():
        return "needs a CUDA device"
    if args[0] == "graph" and any(a.endswith((".svg", ".png", ".pdf")) for a in args) and not shutil.which("dot"):
        return "needs Graphviz's dot"
    return None


def test_the_docs_show_every_command():
    shown = {shlex.split(c)[1] for doc in DOCS for c in commands(doc)}
    assert shown == set(main.commands) - {"zoo"}  # `zoo` is the alias of `list`


@pytest.mark.parametrize("doc", [pytest.param(d, marks=[] if str(d.relative_to(ROOT)) in FAST else pytest.mark.slow)
                                 for d in DOCS], ids=lambda d: str(d.relative_to(ROOT)))
def test_every_documented_command_succeeds(doc, tmp_path, monkeypatch, capsys):
    for folder in ("specs", "docs", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "img"))
    monkeypatch.chdir(tmp_path)
    ran = 0
    for command in commands(doc):
        args, target = argv(command)
        if runnable(args):
            continue
        code = run(args)
        out, err = capsys.readouterr()
        assert code in ((0, 1) if args[0] == "diff" else (0,)), f"{command}\n{err}"  # diff: 1 = they differ
        if target:
            (tmp_path / target).write_text(out)
            assert json.loads(out) if target.endswith(".json") else out
        for i, a in enumerate(args[:-1]):
            if a == "-o":
                assert (tmp_path / args[i + 1]).stat().st_size > 0, command
        ran += 1
    assert ran or not commands(doc)


def test_documented_library_command_is_the_validate_of_every_example(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    args, _ = argv("archc validate docs/examples/*.yaml")
    assert len(args) - 1 == len(list((ROOT / "docs" / "examples").glob("*.yaml"))) and run(args) == 0
    assert "block library, 1 block (conv_bn_relu)" in capsys.readouterr().out


def test_a_loops_name_adds_a_level_as_documented():
    import archc

    keys = list(archc.build(ROOT / "docs" / "examples" / "loop_names.yaml").state_dict())
    assert [k for k in keys if k.endswith("conv.weight")] == ["res1.0.conv.weight", "res2.0.conv.weight",
                                                               "block1.conv.weight", "block2.conv.weight"]


def test_pre_commit_hook_names_a_real_command():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "archc-validate" and hook["language"] == "python"
    program, command = shlex.split(hook["entry"])
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts and command in main.commands
    files = re.compile(hook["files"])
    assert files.search("specs/resnet18.yaml") and files.search("models/specs/a.yml")
    assert not files.search(".github/workflows/ci.yml") and not files.search("specs.yaml")
    assert "archc-validate" in (ROOT / "README.md").read_text()


def test_every_command_is_in_the_lazy_table():
    from archc.cli import COMMANDS

    assert set(main.commands) == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert main.commands[name].callback.__module__ == f"archc.cli.{module}", name
