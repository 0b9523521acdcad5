"""`archc graph` / `archc.graph`: the DOT drawn from the IR, --depth folding, rendering and its failures."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import archc
from archc.cli import run
from archc.ops import fmt_shape
from conftest import ROOT, SPECS

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
ID = r'(?:"((?:[^"\\]|\\.)*)"|([\w.]+))'
NODE = re.compile(rf"^\s*{ID} \[(.*)\]$")
EDGE = re.compile(rf"^\s*{ID} -> {ID}(?: \[(.*)\])?$")
CLUSTER = re.compile(rf"^\s*subgraph {ID} \{{$")


def archc_cli(capsys, *args):
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _id(quoted, bare):
    return bare if bare is not None else quoted.replace('\\"', '"')


def parse(source: str):
    """Nodes {id: (enclosing clusters, attributes)} and edges [(a, b, attributes)] of a DOT text."""
    nodes, edges, stack = {}, [], []
    for line in source.splitlines():
        if m := CLUSTER.match(line):
            stack.append(_id(m[1], m[2]))
        elif line.strip() == "}":
            stack = stack[:-1]
        elif m := EDGE.match(line):
            edges.append((_id(m[1], m[2]), _id(m[3], m[4]), m[5] or ""))
        elif (m := NODE.match(line)) and m[2] not in ("node", "edge", "graph"):  # not the default attributes
            nodes[_id(m[1], m[2])] = (tuple(stack), m[3])
    return nodes, edges


@functools.lru_cache(maxsize=None)
def drawn(spec: str, depth: int | None = None):
    graph = archc.analyze(SPECS / spec)
    return graph, parse(archc.graph(SPECS / spec, depth=depth).source)


def label_of(attrs: str) -> str:
    return re.search(r"label=<(.*?)>(?: \w+=|$)", attrs)[1]


# -- every layer and every edge of the IR -----------------------------------------------------------

@pytest.mark.parametrize("spec", ["googlenet.yaml", "resnet18.yaml", "resnet50.yaml", "densenet121.yaml"])
def test_nodes_edges_and_clusters_are_the_irs(spec):
    graph, (nodes, edges) = drawn(spec)
    layers = {i for i in nodes if i != "input" and not i.startswith("output/")}
    assert layers == {n.id for n in graph.nodes}
    ir_edges = [(s, n.id) for n in graph.nodes for s in n.inputs]
    inner = [(a, b) for a, b, _ in edges if not b.startswith("output/")]
    assert sorted(inner) == sorted(ir_edges)
    for node in graph.nodes:
        clusters, attrs = nodes[node.id]
        assert clusters == tuple(f"cluster_{s}" for s in node.scopes), node.id
        assert escape_free(node.label) in label_of(attrs)
        assert ("shape=ellipse" in attrs) == (node.op in ("add", "concat")), node.id
    for a, b, attrs in edges:  # a shape on an edge is the shape of its source's value
        if "label=" in attrs:
            source = a if a == "input" or a in graph.by_id else None
            assert label_of(attrs) == fmt_shape(graph.shape_of(source)), (a, b)
        if not b.startswith("output/") and graph.by_id[b].op in ("add", "concat"):
            assert "label=" in attrs, f"the edge into the merge {b} shows no shape"


def escape_free(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def merges(spec: str, op: str):
    graph, (nodes, edges) = drawn(spec)
    into = {}
    for a, b, _ in edges:
        into.setdefault(b, []).append(a)
    return graph, {n.id: into[n.id] for n in graph.nodes if n.op == op}


def test_googlenet_inception_branches_meet_in_their_concat():
    """torchvision's GoogLeNet: 9 Inception modules, each concatenating 4 branches of its own."""
    graph, concats = merges("googlenet.yaml", "concat")
    assert len(concats) == 9
    for concat, sources in concats.items():
        block = concat.rsplit(".", 1)[0]
        assert sorted(s.split(".")[1] for s in sources) == ["branch1", "branch2", "branch3", "branch4"]
        assert all(s.startswith(block + ".") for s in sources)
    _, (nodes, edges) = drawn("googlenet.yaml")
    outputs = {b: a for a, b, _ in edges if b.startswith("output/")}
    assert outputs == {"output/fc": "fc", "output/aux1": "aux1.fc2", "output/aux2": "aux2.fc2"}
    assert "train only" in nodes["output/aux1"][1] and "dashed" in nodes["output/aux1"][1]
    assert "train only" not in nodes["output/fc"][1]


@pytest.mark.parametrize("spec, blocks, projections", [
    ("resnet18.yaml", 8, 3),   # [2, 2, 2, 2] basic blocks; stages 2-4 start with a projection
    ("resnet50.yaml", 16, 4),  # [3, 4, 6, 3] bottlenecks; every stage starts with a projection (64 -> 256)
])
def test_resnet_skips_identity_and_projection(spec, blocks, projections):
    graph, adds = merges(spec, "add")
    assert len(adds) == blocks
    projected = [a for a, sources in adds.items() if any(".downsample." in s for s in sources)]
    assert len(projected) == projections
    for add, sources in adds.items():
        block = add.rsplit(".", 1)[0]
        assert len(sources) == 2
        if add not in projected:  # the skip comes from outside the block: its input
            assert sum(not s.startswith(block + ".") for s in sources) == 1


def test_densenet_every_layer_is_concatenated_to_its_input():
    """DenseNet-121: 6 + 12 + 24 + 16 dense layers, each output concatenated to the running features."""
    graph, concats = merges("densenet121.yaml", "concat")
    assert len(concats) == 6 + 12 + 24 + 16
    for concat, (features, new) in concats.items():
        assert new.endswith(".conv2") and ".denselayer" in new
        assert features.endswith((".pool0", ".pool")) or graph.by_id[features].op == "concat"


def test_title_input_and_outputs():
    graph, (nodes, _) = drawn("resnet18.yaml")
    source = archc.graph(SPECS / "resnet18.yaml").source
    title = re.search(r"^\s*.*label=<(<font.*?)> labelloc", source, re.M)[1]
    assert "resnet18" in title and f"{graph.total_params:,} params" in title and "MACs" in title
    assert "[N, 3, 224, 224]" in label_of(nodes["input"][1])
    assert "conv 7x7/2, 64" in label_of(nodes["conv1"][1])


# -- --depth ---------------------------------------------------------------------------------------

def items_in(spec, depth, cluster):
    _, (nodes, _) = drawn(spec, depth)
    return {i: label_of(a) for i, (clusters, a) in nodes.items() if clusters[-1:] == (f"cluster_{cluster}",)}


def test_depth_folds_resnet152_stages_into_first_block_and_a_run():
    """torchvision's ResNet-152 has [3, 8, 36, 3] bottlenecks; all but the first of a stage are alike."""
    for stage, count in zip(range(1, 5), (3, 8, 36, 3)):
        inside = items_in("resnet152.yaml", 2, f"layer{stage}")
        run_id = f"layer{stage}.1..layer{stage}.{count - 1}"
        assert sorted(inside) == [f"layer{stage}.0", run_id]
        assert f"bottleneck x {count - 1}" in inside[run_id]
    _, (nodes, edges) = drawn("resnet152.yaml", 2)
    chain = [(a, b) for a, b, _ in edges]
    assert ("layer3.0", "layer3.1..layer3.35") in chain and ("layer3.1..layer3.35", "layer4.0") in chain
    assert len(nodes) == 4 + 8 + 3 + 2  # stem, two per stage, head, input and output


def test_depth_folds_densenet201_layers_with_their_concats():
    """torchvision's DenseNet-201: blocks of (6, 12, 48, 32) layers; growth 32 from 64 input features."""
    features = 64
    for block, count in zip(range(1, 5), (6, 12, 48, 32)):
        inside = items_in("densenet201.yaml", 3, f"features.denseblock{block}")
        assert len(inside) == 1
        (label,) = inside.values()
        features += 32 * count
        assert f"dense_layer x {count}" in label
        assert f"[N, {features}," in label
        features //= 2


def test_depth_one_is_one_node_per_top_level_scope():
    graph, (nodes, edges) = drawn("googlenet.yaml", 1)
    assert {c for c, _ in nodes.values()} == {()}
    assert {"inception3a", "inception5b", "aux1", "aux2", "maxpool1", "fc"} <= set(nodes)
    assert not any(i.startswith("inception3a.") for i in nodes)
    assert "inception" in label_of(nodes["inception3a"][1]) and "[N, 256, 28, 28]" in label_of(nodes["inception3a"][1])
    assert {(a, b) for a, b, _ in edges} >= {("inception4a", "aux1"), ("inception4a", "inception4b"),
                                              ("aux1", "output/aux1")}


FOLDS = """
name: folds
input: [4, 8, 8]
blocks:
  unit: {layers: [conv: {name: conv, out: 4, kernel: 3, padding: 1}, relu: {name: relu}]}
layers:
  - unit: {name: a}
  - unit: {name: b}
  - unit: {name: c}
  - add: {left: {unit: {}}, right: {unit: {}}}
"""


def test_only_chains_fold_never_parallel_branches():
    nodes, edges = parse(archc.graph(FOLDS, depth=1).source)
    assert "a..c" in nodes and "unit x 3" in label_of(nodes["a..c"][1])
    assert {"left", "right"} <= set(nodes), "two parallel branches are not a run"
    assert {(a, b) for a, b, _ in edges} == {("input", "a..c"), ("a..c", "left"), ("a..c", "right"),
                                             ("left", "add"), ("right", "add"), ("add", "output/output")}


# -- determinism, escaping, API ---------------------------------------------------------------------

def test_same_spec_same_dot_in_fresh_processes_without_torch():
    script = ("import sys, archc; print(archc.graph(sys.argv[1], depth=2).source); "
              "assert 'torch' not in sys.modules, 'graphing imported torch'")
    sources = []
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", script, str(SPECS / "googlenet.yaml")], capture_output=True,
                              text=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=60)
        assert done.returncode == 0, done.stderr
        sources.append(done.stdout)
    assert sources[0] == sources[1]
    assert sources[0] == archc.graph(SPECS / "googlenet.yaml", depth=2).source + "\n"


def test_import_archc_loads_neither_graphviz_nor_torch():
    done = subprocess.run([sys.executable, "-c", "import sys, archc; print(sorted({'graphviz', 'torch'} & "
                           "set(sys.modules)))"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@needs_dot
def test_names_are_escaped_for_dot(tmp_path):
    spec = 'name: "<b>x\\" & \\\\ y"\ninput: [3, 8, 8]\nlayers: [conv: {out: 4, kernel: 3}]\n'
    digraph = archc.graph(spec)
    assert "&lt;b&gt;x&quot; &amp; \\ y" in digraph.source
    svg = ET.fromstring(digraph.pipe(format="svg"))
    assert "<b>x\" & \\ y" in "".join(svg.itertext())


def test_api_params_input_shape_and_direction():
    source = archc.graph(SPECS / "resnet18.yaml", input_shape=(3, 64, 64), num_classes=10, direction="LR").source
    assert "rankdir=LR" in source and "[N, 3, 64, 64]" in source and "linear 10" in source
    assert "[N, 512, 2, 2]" in source
    with pytest.raises(ValueError, match="TB, LR"):
        archc.graph(SPECS / "resnet18.yaml", direction="sideways")


# -- the command: outputs, rendering, failures --------------------------------------------------------

def test_dot_to_stdout_and_file(capsys, tmp_path):
    code, out, _ = archc_cli(capsys, "graph", SPECS / "lenet5.yaml", "--depth", "1")
    assert code == 0 and out == archc.graph(SPECS / "lenet5.yaml", depth=1).source
    code, _, err = archc_cli(capsys, "graph", SPECS / "lenet5.yaml", "-o", tmp_path / "l.dot", "--direction", "lr")
    assert code == 0 and "wrote" in err
    assert (tmp_path / "l.dot").read_text() == archc.graph(SPECS / "lenet5.yaml", direction="LR").source


@needs_dot
def test_svg_rendered_by_dot_is_valid(capsys, tmp_path):
    graph = archc.analyze(SPECS / "resnet18.yaml")
    code, _, err = archc_cli(capsys, "graph", SPECS / "resnet18.yaml", "-o", tmp_path / "r.svg")
    assert code == 0, err
    root = ET.parse(tmp_path / "r.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    groups = root.iter("{http://www.w3.org/2000/svg}g")
    classes = [g.get("class") for g in groups]
    assert classes.count("node") == len(graph.nodes) + 2  # the layers, the input and the output
    assert classes.count("edge") == sum(len(n.inputs) for n in graph.nodes) + 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.svg"]


def test_render_without_dot_fails_cleanly(capsys, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, _, err = archc_cli(capsys, "graph", SPECS / "lenet5.yaml", "-o", tmp_path / "l.png")
    assert code == 1
    assert "'dot' program is not installed" in err and "apt-get install graphviz" in err and "brew" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]
    code, _, _ = archc_cli(capsys, "graph", SPECS / "lenet5.yaml", "-o", tmp_path / "l.dot")
    assert code == 0 and (tmp_path / "l.dot").exists()


def test_unknown_extension_is_a_usage_error(capsys, tmp_path):
    code, _, err = archc_cli(capsys, "graph", SPECS / "lenet5.yaml", "-o", tmp_path / "l.jpg")
    assert code == 2
    assert all(ext in err for ext in (".dot", ".svg", ".png", ".pdf"))
    assert not list(tmp_path.iterdir())


def test_bad_spec_leaves_an_existing_output_untouched(capsys, tmp_path, write_spec):
    bad = write_spec("name: bad\ninput: [3, 8, 8]\nlayers: [conv: {out: 4, kernel: 9}]\n")
    target = tmp_path / "old.svg"
    target.write_text("old picture")
    code, _, err = archc_cli(capsys, "graph", bad, "-o", target)
    assert code == 1 and "spec.yaml:3" in err
    assert target.read_text() == "old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.svg", "spec.yaml"]
