"""Where an imported model comes from: `torchvision:NAME`, `package.module:callable`, or a file."""

from __future__ import annotations

import importlib
import inspect

import torch

from ..errors import error


def torchvision_model(name: str, meta: bool = True):
    from torchvision import models

    builders = set(models.list_models(module=models))
    if name not in builders:
        from ..errors import did_you_mean

        raise error(f"torchvision has no classification model '{name}'", hint=did_you_mean(name, builders)
                    or "see torchvision.models.list_models()")
    builder = models.get_model_builder(name)
    kwargs = {"init_weights": False} if "init_weights" in inspect.signature(builder).parameters else {}
    if meta:
        try:
            with torch.device("meta"):
                return builder(weights=None, **kwargs)
        except Exception:  # noqa: BLE001, S110 - some builders initialise with ops the meta device lacks
            pass
    return builder(weights=None, **kwargs)


def factory_model(text: str):
    """`package.module:callable`, imported only because the user named it."""
    module_name, _, attr = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's module, reported
        raise error(f"cannot import '{module_name}': {type(exc).__name__}: {exc}",
                    hint="the module must be importable (set PYTHONPATH or install it)")
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise error(f"'{module_name}' has no '{attr}'")
        target = getattr(target, part)
    try:
        model = target() if callable(target) and not isinstance(target, torch.nn.Module) else target
    except Exception as exc:  # noqa: BLE001 - the user's factory, reported
        raise error(f"'{text}' failed: {type(exc).__name__}: {exc}", hint="the factory is called without arguments")
    if not isinstance(model, torch.nn.Module):
        raise error(f"'{text}' gave a {type(model).__name__}, not a torch.nn.Module")
    return model


def resolve(source: str, meta: bool = True):
    """(module, name) for a SOURCE that is not an ONNX file (torchvision's on the meta device if `meta`)."""
    if source.startswith("torchvision:"):
        name = source.split(":", 1)[1]
        return torchvision_model(name, meta), name
    if ":" in source:
        return factory_model(source), source.split(":", 1)[1].split(".")[-1]
    raise error(f"cannot read the source '{source}'",
                hint="write torchvision:NAME, package.module:callable, or a path to a .onnx file")


def input_shapes(model, shape) -> dict:
    """id(module) -> the shape (without the batch) of its first input, from one forward of a batch of 2.

    The forward runs in the model's mode (training, for auxiliary heads); the buffers it updates
    (batch-norm statistics) are put back, so the source's weights are as they were.
    """
    seen: dict = {}

    def hook(module, args):
        first = args[0] if args else None
        if isinstance(first, torch.Tensor):
            seen.setdefault(id(module), tuple(first.shape[1:]))
        elif isinstance(first, (list, tuple)) and first and isinstance(first[0], torch.Tensor):
            seen.setdefault(id(module), tuple(first[0].shape[1:]))

    handles = [m.register_forward_pre_hook(hook) for m in model.modules()]
    saved = [(b, b.clone()) for b in model.buffers() if b.device.type != "meta"]
    try:
        device = next(iter(model.parameters()), torch.zeros(0)).device  # meta for torchvision's builds
        with torch.no_grad():
            model(torch.randn((2, *shape), device=device))
    except Exception as exc:  # noqa: BLE001 - the user's forward, reported
        raise error(f"the model does not run on an input of shape {list(shape)}: {type(exc).__name__}: {exc}",
                    hint="give the model's input shape with --input CxHxW")
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
    return seen
