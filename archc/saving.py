"""Saved models: the state_dict with the resolved spec that rebuilds its module.

The file is a plain dict (tensors, dicts, lists, strings, numbers), so
`torch.load(path, weights_only=True)` reads it:
{"state_dict", "spec", "params", "input_shape", "archc_version"}.
"""

from __future__ import annotations

import os

from .atomic import atomic_path

FORMAT_KEYS = ("state_dict", "spec", "params", "input_shape", "archc_version")


def checkpoint(model) -> dict:
    """The saved form of a model built by archc."""
    from . import __version__

    info = getattr(model, "archc_spec", None)
    if info is None:
        raise ValueError("only models built by archc.build can be saved with their spec")
    return {"state_dict": model.state_dict(), "spec": info["spec"], "params": info["params"],
            "input_shape": info["input_shape"], "archc_version": __version__}


def save(model, path: str | os.PathLike) -> None:
    """Write the model atomically: an existing file is replaced only by a complete one."""
    import torch

    data = checkpoint(model)
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def load(path: str | os.PathLike):
    """Rebuild the saved model from its spec and load its weights (strictly)."""
    import torch

    from .emit.build import build_from_graph
    from .pipeline import analyze

    data = torch.load(path, weights_only=True, map_location="cpu")
    missing = [key for key in FORMAT_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path} is not an archc model file (missing {', '.join(missing)})")
    graph = analyze(data["spec"], data["params"], data["input_shape"])
    model = build_from_graph(graph, data["spec"], device="meta")
    model.load_state_dict(data["state_dict"], strict=True, assign=True)
    return model
