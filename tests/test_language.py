"""Every construct of the spec language, end to end through `archc.analyze`.

Module names and shapes are checked against torchvision's own models (built on
the meta device: no weights, no memory), so the expected values come from torch.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
import yaml

import archc
from archc.errors import SpecError
from archc.emit.lowering import op_module
from archc.ops import REGISTRY
from conftest import SPECS


def state_shapes(graph) -> dict[str, tuple]:
    """The state_dict (key -> shape) that the IR's module paths and the ops' modules give."""
    shapes = {}
    with torch.device("meta"):
        for node in graph.nodes:
            if node.module is not None:
                module = op_module(REGISTRY[node.op], node.attrs, [graph.shape_of(i) for i in node.inputs])
                shapes.update({f"{node.module}.{k}": tuple(v.shape) for k, v in module.state_dict().items()})
    return shapes


def torch_state_shapes(build, *args, **kwargs) -> dict[str, tuple]:
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build(*args, **kwargs).state_dict().items()}


def torch_output_shape(build, input_shape, *args, **kwargs) -> tuple:
    with torch.device("meta"):
        return tuple(build(*args, **kwargs).eval()(torch.empty(1, *input_shape)).shape[1:])


def final_shape(graph) -> tuple:
    return graph.shape_of(graph.outputs[0].node)


def errors_of(source, params=None) -> list:
    with pytest.raises(SpecError) as info:
        archc.analyze(source, params)
    return info.value.diagnostics


# -- loops with destructuring, index and name templates; conditions; add; `_` branches ----------

@pytest.mark.parametrize("name, build", [("resnet18", torchvision.models.resnet18),
                                         ("resnet50", torchvision.models.resnet50)])
def test_resnet_matches_torchvision_state_dict(name, build):
    graph = archc.analyze(SPECS / f"{name}.yaml")
    assert state_shapes(graph) == torch_state_shapes(build)
    assert final_shape(graph) == (1000,)


def test_set_override_changes_the_model_like_torchvision_does():
    graph = archc.analyze(SPECS / "resnet18.yaml", {"num_classes": 7}, input_shape=(3, 64, 96))
    assert state_shapes(graph) == torch_state_shapes(torchvision.models.resnet18, num_classes=7)
    assert graph.by_id["layer4.1.conv2"].shape == (512, 2, 3)


# -- unnamed numbering like nn.Sequential, loops over arch tuples --------------------------------

VGG = """
name: vgg16
input: [3, 224, 224]
params:
  num_classes: 1000
  arch: [[2, 64], [2, 128], [3, 256], [3, 512], [3, 512]]
layers:
  features:
    - for: [n, width]
      in: arch
      do:
        - for: k
          in: n
          do: [conv: {out: width, kernel: 3, padding: 1}, relu]
        - maxpool: {kernel: 2, stride: 2}
  avgpool: {adaptive_avgpool: {out: 7}}
  _flatten: flatten
  classifier: [linear: {out: 4096}, relu, dropout, linear: {out: 4096}, relu, dropout, linear: {out: num_classes}]
"""


def test_vgg_from_arch_tuples_numbers_layers_like_sequential():
    graph = archc.analyze(VGG)
    assert state_shapes(graph) == torch_state_shapes(torchvision.models.vgg16)
    assert graph.by_id["features.30"].op == "maxpool"


def test_named_items_take_a_number_slot_too():
    graph = archc.analyze("input: [3, 8, 8]\nlayers: [conv: {out: 2, kernel: 1}, relu: {name: act}, conv: {out: 2, kernel: 1}]\n")
    assert [n.id for n in graph.nodes] == ["0", "act", "2"]


# -- dense connectivity, groups, conditions, in_channels arithmetic -----------------------------

DENSENET = """
name: small_densenet
input: [3, 32, 32]
params: {growth: 4, blocks: [2, 3], bn_size: 2, init: 8, num_classes: 5}
layers:
  features:
    - conv: {name: conv0, out: init, kernel: 7, stride: 2, padding: 3, bias: false}
    - batchnorm: {name: norm0}
    - relu: {name: relu0}
    - maxpool: {name: pool0, kernel: 3, stride: 2, padding: 1}
    - for: n
      in: blocks
      index: i
      do:
        - dense:
            name: "denseblock{i + 1}"
            layers:
              - for: j
                in: n
                name: "denselayer{j + 1}"
                do:
                  - batchnorm: {name: norm1}
                  - relu: {name: relu1}
                  - conv: {name: conv1, out: bn_size * growth, kernel: 1, bias: false}
                  - batchnorm: {name: norm2}
                  - relu: {name: relu2}
                  - conv: {name: conv2, out: growth, kernel: 3, padding: 1, bias: false}
        - if: i < len(blocks) - 1
          then:
            - group:
                name: "transition{i + 1}"
                layers:
                  - batchnorm: {name: norm}
                  - relu: {name: relu}
                  - conv: {name: conv, out: "floor(in_channels * 0.5)", kernel: 1, bias: false}
                  - avgpool: {name: pool, kernel: 2, stride: 2}
    - batchnorm: {name: norm5}
  _head: [relu, adaptive_avgpool: {out: 1}, flatten, linear: {name: classifier, out: num_classes}]
"""
SMALL_DENSENET = dict(growth_rate=4, block_config=(2, 3), num_init_features=8, bn_size=2, num_classes=5)


def test_dense_blocks_match_torchvision_densenet():
    graph = archc.analyze(DENSENET)
    build = torchvision.models.DenseNet
    assert state_shapes(graph) == torch_state_shapes(build, **SMALL_DENSENET)
    assert graph.by_id["features.norm5"].shape == torch_output_shape(
        lambda **kw: build(**kw).features, (3, 32, 32), **SMALL_DENSENET)[:1] + (4, 4)
    assert final_shape(graph) == torch_output_shape(build, (3, 32, 32), **SMALL_DENSENET)


def test_dense_concatenates_each_step_onto_its_input():
    graph = archc.analyze("input: [3, 8, 8]\nlayers:\n  - dense: [conv: {out: 2, kernel: 1}, conv: {out: 5, kernel: 1}]\n")
    assert [(n.op, n.shape) for n in graph.nodes] == [("conv", (2, 8, 8)), ("concat", (5, 8, 8)),
                                                      ("conv", (5, 8, 8)), ("concat", (10, 8, 8))]


# -- blocks with typed params, concat branches ---------------------------------------------------

INCEPTION = """
name: inception
input: [192, 28, 28]
blocks:
  basic_conv:
    params: {out: int, kernel: 1, padding: 0}
    layers:
      - conv: {name: conv, out: out, kernel: kernel, padding: padding, bias: false}
      - batchnorm: {name: bn, eps: 0.001}
      - relu
  inception:
    params: {c1: int, c2: [int, int], c3: [int, int], c4: int}
    layers:
      - concat:
          branch1: {basic_conv: {out: c1}}
          branch2: [basic_conv: {out: "c2[0]"}, basic_conv: {out: "c2[1]", kernel: 3, padding: 1}]
          branch3: [basic_conv: {out: "c3[0]"}, basic_conv: {out: "c3[1]", kernel: 3, padding: 1}]
          branch4: [maxpool: {kernel: 3, stride: 1, padding: 1, ceil_mode: true}, basic_conv: {out: c4}]
layers:
  - inception: {name: inception3a, c1: 64, c2: [96, 128], c3: [16, 32], c4: 32}
"""


def test_inception_block_matches_torchvision():
    from torchvision.models.googlenet import Inception

    graph = archc.analyze(INCEPTION)
    expected = torch_state_shapes(Inception, 192, 64, 96, 128, 16, 32, 32)
    assert state_shapes(graph) == {f"inception3a.{k}": v for k, v in expected.items()}
    assert final_shape(graph) == torch_output_shape(Inception, (192, 28, 28), 192, 64, 96, 128, 16, 32, 32)


@pytest.mark.parametrize("call, message, hint", [
    ("{c1: 64, c2: 96, c3: [16, 32], c4: 32}", "block 'inception' param 'c2': expected [int, int], found 96", None),
    ("{c1: 64, c2: [96, 128, 1], c3: [16, 32], c4: 32}", "expected 2 values [int, int], found 3", None),
    ("{c1: 64.5, c2: [96, 128], c3: [16, 32], c4: 32}", "param 'c1': expected int, found 64.5", None),
    ("{c1: 64, c2: [96, 128], c3: [16, 32]}", "block 'inception' needs the param 'c4' (int)", "add c4"),
    ("{c1: 64, c2: [96, 128], c3: [16, 32], c4: 32, c5: 1}", "block 'inception' has no param 'c5'",
     "'inception' takes: c1, c2, c3, c4"),
])
def test_block_param_types_are_checked(call, message, hint):
    text = INCEPTION.replace("{name: inception3a, c1: 64, c2: [96, 128], c3: [16, 32], c4: 32}", call)
    (diag,) = errors_of(text)
    assert message in diag.message
    assert diag.span.line == 20
    if hint:
        assert hint in diag.hint


def test_block_defaults_and_in_channels():
    spec = """
input: [6, 8, 8]
blocks:
  squeeze:
    params: {ratio: {type: float, default: 0.5}}
    layers: [conv: {name: conv, out: "max(1, floor(in_channels * ratio))", kernel: 1}]
layers:
  - squeeze: {name: halved}
  - squeeze: {name: third, ratio: 0.34}
"""
    graph = archc.analyze(spec)
    assert [(n.id, n.shape[0]) for n in graph.nodes] == [("halved.conv", 3), ("third.conv", 1)]


# -- references: from, side, outputs ------------------------------------------------------------

WIRING = """
input: [4, 8, 8]
layers:
  - conv: {name: stem, out: 8, kernel: 3, padding: 1}
  - group: {name: aux, side: true, layers: [adaptive_avgpool: {out: 1}, flatten, linear: {name: fc, out: 3}]}
  - conv: {name: body, out: 8, kernel: 3, padding: 1}
  - add: {name: res, from: [stem, body]}
  - relu: {name: act}
  - conv: {name: from_input, from: input, out: 2, kernel: 1}
outputs: [act, {from: aux, train_only: true}, {from: from_input, if: "false"}]
"""


def test_side_branches_from_references_and_outputs():
    graph = archc.analyze(WIRING)
    assert graph.by_id["body"].inputs == ["stem"]  # the side branch does not feed the next layer
    assert graph.by_id["aux.0"].inputs == ["stem"]
    assert graph.by_id["res"].inputs == ["stem", "body"] and graph.by_id["res"].module is None
    assert graph.by_id["from_input"].inputs == ["input"]
    assert [(o.name, o.train_only, graph.shape_of(o.node)) for o in graph.outputs] == [
        ("act", False, (8, 8, 8)), ("aux", True, (3,))]


def test_undefined_reference_is_located_with_a_suggestion():
    (diag,) = errors_of(WIRING.replace("from: [stem, body]", "from: [stem, bdy]"))
    assert diag.message == "undefined reference 'bdy'"
    assert (diag.span.line, diag.span.col) == (7, 35) and "did you mean 'body'" in diag.hint


def test_transparent_and_passthrough_branches():
    spec = """
input: [3, 8, 8]
layers:
  - concat:
      main: [conv: {out: 2, kernel: 1}]
      _plain: {conv: {out: 3, kernel: 1}}
      skip: null
"""
    graph = archc.analyze(spec)
    modules = [n.module for n in graph.nodes if n.module]
    assert modules == ["main.0", "1"]  # '_plain' adds no module level; its conv takes the next number
    assert graph.nodes[-1].inputs == ["main.0", "1", "input"] and graph.nodes[-1].shape == (8, 8, 8)


# -- spec params and overrides -------------------------------------------------------------------

PARAMS = "input: [3, 8, 8]\nparams: {width: 4, drop: 0.5, arch: [1, 2]}\nlayers:\n" \
         "  - for: k\n    in: arch\n    do: [conv: {out: width * k, kernel: 1}]\n  - dropout: {p: drop}\n"


def test_overrides_replace_defaults_with_checked_types():
    graph = archc.analyze(PARAMS, {"width": 3, "drop": 0, "arch": [1, 1, 2]})
    assert [n.shape[0] for n in graph.nodes if n.op == "conv"] == [3, 3, 6]
    assert graph.params["drop"] == 0.0 and isinstance(graph.params["drop"], float)


@pytest.mark.parametrize("override, message, hint", [
    ({"width": "four"}, "param 'width': expected int, found 'four'", "the default is 4"),
    ({"arch": 3}, "param 'arch': expected list, found 3", None),
    ({"widht": 3}, "unknown param 'widht'", "did you mean 'width'"),
])
def test_bad_overrides(override, message, hint):
    (diag,) = errors_of(PARAMS, override)
    assert message == diag.message
    if hint:
        assert hint in diag.hint


# -- conditions, loops over counts, loop errors --------------------------------------------------

@pytest.mark.parametrize("flag, ops", [(True, ["conv", "relu"]), (False, ["conv", "tanh"])])
def test_conditions_pick_a_branch(flag, ops):
    spec = ("input: [3, 8, 8]\nparams: {act: true}\nlayers:\n  - conv: {out: 2, kernel: 1}\n"
            "  - if: act and in_channels == 2\n    then: [relu]\n    else: [tanh]\n")
    assert [n.op for n in archc.analyze(spec, {"act": flag}).nodes] == ops


def test_loop_destructuring_mismatch_is_reported():
    spec = "input: [3, 8, 8]\nlayers:\n  - for: [a, b]\n    in: [[1, 2], [3]]\n    do: [relu]\n"
    (diag,) = errors_of(spec)
    assert diag.message == "cannot unpack [3] into [a, b]" and (diag.span.line, diag.span.col) == (4, 9)


# -- errors: located, several per run ------------------------------------------------------------

def test_structural_errors_are_all_reported_with_locations():
    spec = """\
input: [3, 32, 32]
layers:
  - conv: {out: 8, kernel: 3, strid: 2}
  - relu: {inplace: true}
"""
    diags = errors_of(spec)
    assert [(d.span.line, d.span.col, d.message) for d in diags] == [
        (3, 31, "unknown key 'strid' in 'layers[0].conv'"), (4, 12, "unknown key 'inplace' in 'layers[1].relu'")]
    assert "did you mean 'stride'" in diags[0].hint and diags[1].path == "layers[1].relu.inplace"


def test_independent_inference_errors_are_all_reported():
    spec = """\
input: [3, 32, 32]
layers:
  - flatten
  - conv: {out: 8, kernel: 3}
  - linaer: {out: 10}
  - linear: {out: 10, from: flaten}
"""
    diags = errors_of(spec)
    assert [(d.span.line, d.span.col, d.message.split(", got")[0]) for d in diags] == [
        (4, 5, "conv '1' expects a 4-d input [N, C, H, W]"), (5, 5, "unknown op or block 'linaer'"),
        (6, 29, "undefined reference 'flaten'")]
    assert "flatten" in diags[0].hint and diags[0].path == "layers[1]"
    assert "did you mean 'linear'" in diags[1].hint


def test_spatial_collapse_names_the_layer_and_its_input():
    (diag,) = errors_of("input: [3, 4, 4]\nlayers:\n  - maxpool: {name: pool, kernel: 2}\n  - conv: {out: 2, kernel: 3}\n")
    assert diag.message.startswith("conv '1' kernel 3 (with dilation) is larger than the padded input 2 along height")
    assert diag.message.endswith("after 'pool' (maxpool)") and (diag.span.line, diag.span.col) == (4, 5)


# -- the documented examples ---------------------------------------------------------------------

DOCS = SPECS.parent / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_documented_example_validates_and_is_shown_verbatim(path):
    text = path.read_text()
    if set(yaml.safe_load(text)) == {"blocks"}:  # a library of blocks: checked through a spec that imports it
        assert any(f"imports: [{path.name}]" in other.read_text() for other in EXAMPLES)
    else:
        assert archc.analyze(path).nodes
    assert f"```yaml\n{text}```" in (DOCS / "spec-language.md").read_text()


def test_documented_names_are_the_module_names():
    graph = archc.analyze(DOCS / "examples" / "naming.yaml")
    assert [n.module for n in graph.nodes if n.params] == ["features.0", "features.3", "head.hidden.0", "head.fc"]
    assert archc.analyze(DOCS / "examples" / "params.yaml", {"drop": 0}).params["drop"] == 0.0
