"""The reference implementations archc is measured against: torchvision's models and a hand-written LeNet-5."""

from __future__ import annotations

from collections import OrderedDict

# spec name -> (torchvision constructor name, keyword arguments giving the same architecture).
# Everything else is torchvision's default, including its own weight initialisation.
TORCHVISION: dict[str, tuple[str, dict]] = {
    "alexnet": ("alexnet", {}),
    "alexnet_finetune": ("alexnet", {"num_classes": 2}),
    **{f"vgg{d}{bn}": (f"vgg{d}{bn}", {}) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "googlenet": ("googlenet", {"aux_logits": True}),
    **{f"resnet{d}": (f"resnet{d}", {}) for d in (18, 34, 50, 101, 152)},
    **{f"densenet{d}": (f"densenet{d}", {}) for d in (121, 161, 169, 201)},
    "mobilenet_v3_large": ("mobilenet_v3_large", {}),
    "efficientnet_b0": ("efficientnet_b0", {}),
    "regnet_y_400mf": ("regnet_y_400mf", {}),
    **{name: (name, {}) for name in ("convnext_tiny", "vit_b_16", "swin_t")},
}


def torchvision_model(spec: str):
    """torchvision's model for `spec` (weights=None, its default init), on the CPU."""
    import torchvision.models as tvm

    name, kwargs = TORCHVISION[spec]
    return getattr(tvm, name)(weights=None, **kwargs)


def handwritten_lenet5():
    """LeNet-5 as one would write it by hand (seed 002's nn.Sequential(OrderedDict) version),
    with the module names of specs/lenet5.yaml, so state_dicts load both ways."""
    from torch import nn

    return nn.Sequential(OrderedDict([
        ("feature", nn.Sequential(OrderedDict([
            ("cnn1", nn.Conv2d(1, 6, 5, padding=2)), ("cnn1_act", nn.Tanh()),
            ("avgpool1", nn.AvgPool2d(2, 2)),
            ("cnn2", nn.Conv2d(6, 16, 5)), ("cnn2_act", nn.Tanh()),
            ("avgpool2", nn.AvgPool2d(2, 2)),
            ("cnn3", nn.Conv2d(16, 120, 5)), ("cnn3_act", nn.Tanh()),
        ]))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(120, 84)), ("fc1_act", nn.Tanh()),
            ("fc2", nn.Linear(84, 10)),
        ]))),
    ]))


def reference_model(spec: str):
    """The eager reference for forward timing: torchvision's model, or the hand-written LeNet-5."""
    return handwritten_lenet5() if spec == "lenet5" else torchvision_model(spec)
