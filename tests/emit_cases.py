"""Every bundled spec with the params and input that tests/test_emit_python.py emits it at, and
the model class of an emitted file.

Small inputs and widths where the spec has params for them (the block counts stay those of the
spec), so that building, emitting and running all of them stays fast: ResNet-style stages of 4-32
channels, ConvNeXt dims 8-64, ViTs with 16-wide tokens at 28-64 pixels, Swins at 64x64 with 2x2
windows and 8-wide embeddings, MaxViT with 2x2 partitions, EfficientNets at a tenth of their width,
RegNets from w_0 = 8.
"""

from __future__ import annotations


def _stages(counts, widths=(4, 8, 8, 16)):
    return [[w, n] for w, n in zip(widths, counts)]


def _arch(convs, widths=(8, 16, 16, 32, 32)):
    return [[n, w] for n, w in zip(convs, widths)]


_C10 = {"num_classes": 10}
_DENSE = {"growth": 4, "init_features": 8, "bn_size": 2, **_C10}
_VGG = {"pool_to": 1, **_C10}
_X4 = (16, 16, 32, 32)  # ResNeXt x4d: int(width * width_per_group / 64) * groups channels, at least 1 per group
_CONVNEXT = {"dims": [8, 16, 32, 64], **_C10}
_VIT = {"hidden_dim": 16, "mlp_dim": 32, "num_heads": 2, **_C10}
_SWIN = {"embed_dim": 8, "num_heads": [1, 2, 2, 4], "window": 2, **_C10}  # maps 16, 8, 4, 2: tiled
_MAXVIT = {"stem_channels": 8, "block_channels": [8, 16, 32, 64], "head_dim": 8, "partition_size": 2, **_C10}
_EFFICIENTNETS = ("efficientnet", *(f"efficientnet_b{k}" for k in range(8)),
                  *(f"efficientnet_v2_{s}" for s in "sml"))
_REGNET = {"w_0": 8, "w_a": 8.0, **_C10}  # narrow; each member's depth, w_m, group width and SE stay
_REGNETS = ("regnet", *(f"regnet_x_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
            *(f"regnet_y_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")))
_MOBILE = ("mnasnet", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "mobilenet_v2", "mobilenet_v3_large",
           "mobilenet_v3_small", "shufflenet_v2", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
           "shufflenet_v2_x2_0")

CASES = {
    "alexnet": (_C10, [3, 63, 63]),
    "alexnet_finetune": ({}, [3, 63, 63]),
    "alexnet_paper": (_C10, [3, 67, 67]),
    "bn_lenet": ({}, None),
    **{n: (_CONVNEXT, [3, 32, 32]) for n in ("convnext", "convnext_tiny", "convnext_small", "convnext_base",
                                              "convnext_large")},
    "densenet": (_DENSE, [3, 32, 32]),
    "densenet121": (_DENSE, [3, 32, 32]),
    "densenet161": (_DENSE, [3, 32, 32]),
    "densenet169": (_DENSE, [3, 32, 32]),
    "densenet201": (_DENSE, [3, 32, 32]),
    "densenet_bc_100": ({}, None),
    **{n: ({"width": 0.1, **_C10}, [3, 32, 32]) for n in _EFFICIENTNETS},
    "googlenet": (_C10, [3, 64, 64]),
    "googlenet_d2l": ({}, [1, 64, 64]),
    "inception_v3": (_C10, [3, 299, 299]),  # its auxiliary head needs the 17x17 maps of 299x299
    "lenet": ({}, None),
    "lenet5": ({}, None),
    "maxvit_t": (_MAXVIT, [3, 64, 64]),
    **{n: (_C10, [3, 32, 32]) for n in _MOBILE},
    "nin": ({}, [1, 96, 96]),
    "resnet": ({"stages": _stages([2, 2, 2, 2]), **_C10}, [3, 32, 32]),
    "resnet18": ({"stages": _stages([2, 2, 2, 2]), **_C10}, [3, 32, 32]),
    "resnet34": ({"stages": _stages([3, 4, 6, 3]), **_C10}, [3, 32, 32]),
    "resnet50": ({"stages": _stages([3, 4, 6, 3]), **_C10}, [3, 32, 32]),
    "resnet101": ({"stages": _stages([3, 4, 23, 3]), **_C10}, [3, 32, 32]),
    "resnet152": ({"stages": _stages([3, 8, 36, 3]), **_C10}, [3, 32, 32]),
    "resnet_d2l": ({"arch": [[2, 64], [2, 16], [2, 16], [2, 32]]}, [1, 32, 32]),
    "resnext50_32x4d": ({"stages": _stages([3, 4, 6, 3], _X4), **_C10}, [3, 32, 32]),
    "resnext101_32x8d": ({"stages": _stages([3, 4, 23, 3], (8, 8, 16, 16)), **_C10}, [3, 32, 32]),
    "resnext101_64x4d": ({"stages": _stages([3, 4, 23, 3], _X4), **_C10}, [3, 32, 32]),
    **{n: (_C10, [3, 64, 64]) for n in ("squeezenet", "squeezenet1_0", "squeezenet1_1")},
    **{n: (_SWIN, [3, 64, 64]) for n in ("swin", "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b")},
    "vgg": ({"arch": _arch([1, 1, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg11": ({"arch": _arch([1, 1, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg11_bn": ({"arch": _arch([1, 1, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg13": ({"arch": _arch([2, 2, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg13_bn": ({"arch": _arch([2, 2, 2, 2, 2]), **_VGG}, [3, 32, 32]),
    "vgg16": ({"arch": _arch([2, 2, 3, 3, 3]), **_VGG}, [3, 32, 32]),
    "vgg16_bn": ({"arch": _arch([2, 2, 3, 3, 3]), **_VGG}, [3, 32, 32]),
    "vgg19": ({"arch": _arch([2, 2, 4, 4, 4]), **_VGG}, [3, 32, 32]),
    "vgg19_bn": ({"arch": _arch([2, 2, 4, 4, 4]), **_VGG}, [3, 32, 32]),
    "vgg_small": ({}, [1, 32, 32]),
    **{n: ({**_VIT, "image_size": 32}, [3, 32, 32]) for n in ("vit", "vit_b_16", "vit_l_16")},
    **{n: ({**_VIT, "image_size": 64}, [3, 64, 64]) for n in ("vit_b_32", "vit_l_32")},
    "vit_h_14": ({**_VIT, "image_size": 28}, [3, 28, 28]),
    "wide_resnet50_2": ({"stages": _stages([3, 4, 6, 3]), **_C10}, [3, 32, 32]),
    "wide_resnet101_2": ({"stages": _stages([3, 4, 23, 3]), **_C10}, [3, 32, 32]),
    **{n: (_REGNET, [3, 32, 32]) for n in _REGNETS},
}


def emitted_class(source: str):
    """The model class of an emitted file (the last class it defines), executed in a fresh namespace."""
    namespace: dict = {"__name__": "emitted"}
    exec(compile(source, "<emitted>", "exec"), namespace)  # noqa: S102  (archc's own output under test)
    return [v for v in namespace.values() if isinstance(v, type) and v.__module__ == "emitted"][-1]
