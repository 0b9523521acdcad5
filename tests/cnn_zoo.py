"""The CNN families after 2016 (MobileNet, EfficientNet, MnasNet, ShuffleNet, SqueezeNet, ResNeXt, Wide
ResNet, Inception v3, RegNet): spec name -> torchvision builder, its kwargs, and how each is tested.

Shared by tests/test_zoo_cnn.py (the proofs), tests/test_zoo_static.py (every spec file is covered) and
tests/test_onnx_zoo.py (these families export once per family, in test_zoo_cnn.py, not spec by spec);
tests/test_zoo_regnet.py adds RegNet's own checks.
"""

from __future__ import annotations

# spec -> (torchvision builder name, kwargs); the spec's file is specs/<spec>.yaml
BUILDERS: dict[str, tuple[str, dict]] = {
    "mobilenet_v2": ("mobilenet_v2", {}),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}),
    **{f"efficientnet_{m}": (f"efficientnet_{m}", {}) for m in ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7",
                                                               "v2_s", "v2_m", "v2_l")},
    **{f"mnasnet{a}": (f"mnasnet{a}", {}) for a in ("0_5", "0_75", "1_0", "1_3")},
    **{f"shufflenet_v2_{w}": (f"shufflenet_v2_{w}", {}) for w in ("x0_5", "x1_0", "x1_5", "x2_0")},
    "squeezenet1_0": ("squeezenet1_0", {}),
    "squeezenet1_1": ("squeezenet1_1", {}),
    **{n: (n, {}) for n in ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
                            "wide_resnet101_2")},
    "inception_v3": ("inception_v3", {"init_weights": False}),
    **{f"regnet_{kind}_{size}": (f"regnet_{kind}_{size}", {}) for kind, sizes in (
        ("y", ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")),
        ("x", ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"))) for size in sizes},
}

# specs whose totals include train-only outputs (aux heads): torchvision counts them in train mode, and its
# published `_ops` are the eval network's (these spec params turn the heads off)
TRAIN_ONLY_HEADS: dict[str, dict] = {"inception_v3": {"aux_logits": False}}

# family bases: each equal to one member (efficientnet = efficientnet_b0)
BASES: dict[str, str] = {"efficientnet": "efficientnet_b0", "mnasnet": "mnasnet1_0",
                         "shufflenet_v2": "shufflenet_v2_x1_0", "squeezenet": "squeezenet1_0",
                         "regnet": "regnet_y_400mf"}

# family -> (the member exported to ONNX and drawn, its test input)
FAMILIES: dict[str, tuple[str, tuple[int, int, int]]] = {
    "mobilenet_v2": ("mobilenet_v2", (3, 64, 64)),
    "mobilenet_v3": ("mobilenet_v3_small", (3, 64, 64)),
    "efficientnet": ("efficientnet_b0", (3, 64, 64)),
    "mnasnet": ("mnasnet0_5", (3, 64, 64)),
    "shufflenet_v2": ("shufflenet_v2_x0_5", (3, 64, 64)),
    "squeezenet": ("squeezenet1_1", (3, 64, 64)),
    "resnext": ("resnext50_32x4d", (3, 64, 64)),
    "wide_resnet": ("wide_resnet50_2", (3, 64, 64)),
    "inception_v3": ("inception_v3", (3, 299, 299)),
    "regnet": ("regnet_y_400mf", (3, 64, 64)),
}

# the input of a builder's default weights where it is not the spec's (their published `_ops` are measured there):
# regnet_y_128gf's only end-to-end weights are SWAG's, at 384x384
PUBLISHED_INPUTS: dict[str, tuple[int, int, int]] = {"regnet_y_128gf": (3, 384, 384)}

# equivalence input per spec (default 3x64x64); large builders are marked slow
INPUTS: dict[str, tuple[int, int, int]] = {"inception_v3": (3, 299, 299)}   # its aux head needs 299x299
SLOW: set[str] = {"efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_m", "efficientnet_v2_l",
                  "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
                  "regnet_y_8gf", "regnet_y_16gf", "regnet_x_8gf", "regnet_x_16gf"}
# over ~100M params: proven on the meta device and against the published numbers only (no weights on the CPU)
META_ONLY: set[str] = {"regnet_y_32gf", "regnet_y_128gf", "regnet_x_32gf"}
