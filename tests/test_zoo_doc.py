"""docs/zoo.md stays true: its table lists every spec with archc's own totals, and its claims about
`extends:` and the MACs convention match the specs and archc (the numbers are proven against torch in
test_zoo_static.py / test_zoo_equivalence.py; this only keeps the document from drifting)."""

from __future__ import annotations

import json
import re

import pytest

import archc
from archc.cli import run
from archc.ops import REGISTRY
from archc.report import MACS_NOTE
from conftest import ROOT, SPECS

DOC = (ROOT / "docs" / "zoo.md").read_text()
ROW = re.compile(r"^\| `(\w+)` \| (.*?) \| (\d+x\d+x\d+) \| ([\d,]+) \| ([\d,]+) \| (.*?) \|$", re.M)
ROWS = {m.group(1): m.groups()[1:] for m in ROW.finditer(DOC)}


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_table_lists_every_spec_once():
    assert len(ROW.findall(DOC)) == len(ROWS)
    assert set(ROWS) == {p.stem for p in SPECS.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_matches_archc_shapes_json(name, capsys):
    source, shape, params, macs, proof = ROWS[name]
    assert run(["shapes", "--json", str(SPECS / f"{name}.yaml")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "x".join(map(str, report["input"])) == shape
    assert (number(params), number(macs)) == (report["totals"]["params"], report["totals"]["macs"])
    extends = re.search(r"`extends: (\w+\.yaml)`", source)
    text = (SPECS / f"{name}.yaml").read_text()
    assert re.search(r"^extends: (\S+)", text, re.M).group(1) == extends.group(1) if extends \
        else not re.search(r"^extends:", text, re.M)
    base_of = re.search(r"family base \(= (\w+)\)", source)
    if base_of:
        assert ROWS[base_of.group(1)][2:4] == (params, macs)


def test_googlenet_without_aux_heads_sentence():
    params, macs = re.search(r"`--set aux_logits=false` it is ([\d,]+) params and\s+([\d,]+) MACs", DOC).groups()
    graph = archc.analyze(str(SPECS / "googlenet.yaml"), {"aux_logits": False})
    assert (number(params), number(macs)) == (graph.total_params, graph.total_macs)


def test_macs_convention_is_the_one_archc_states_and_uses():
    assert "torchvision's `_ops` convention" in MACS_NOTE and "other ops count 0" in MACS_NOTE
    assert "torchvision's `_ops` convention (FLOPs = 2 x MACs)" in DOC
    zero_row = next(line for line in DOC.splitlines() if line.startswith("| everything else"))
    counted = {"conv", "linear", "patch_embed", "self_attention", "window_attention", "partition_attention",
               "squeeze_excitation"}
    assert set(re.findall(r"`(\w+)`", zero_row)) | counted == set(REGISTRY)
    for path in SPECS.glob("*.yaml"):
        graph = archc.analyze(str(path))
        assert all(n.macs == 0 for n in graph.nodes if n.op not in counted), path.stem
