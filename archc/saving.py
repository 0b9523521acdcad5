"""Saved models: the state_dict with the resolved spec that rebuilds its module.

The file is a plain dict (tensors, dicts, lists, strings, numbers), so
`torch.load(path, weights_only=True)` reads it:
{"state_dict", "spec", "params", "input_shape", "archc_version"}.
"""

from __future__ import annotations

import os

from .atomic import atomic_path
from .errors import SpecError, Span, error

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
    """Rebuild the saved model from its spec and load its weights (strictly).

    A file that is not a readable archc model file raises SpecError naming the file.
    """
    from .emit.build import build_from_graph
    from .pipeline import analyze

    data = read(path)
    graph = analyze(data["spec"], data["params"], data["input_shape"])
    model = build_from_graph(graph, data["spec"], device="meta")
    try:
        model.load_state_dict(data["state_dict"], strict=True, assign=True)
    except RuntimeError as exc:
        raise not_a_model(path, "its weights do not fit its spec: " + brief(exc)) from None
    return model


def read(path: str | os.PathLike) -> dict:
    """The checkpoint dict of an archc model file (torch.load with weights_only=True)."""
    import pickle

    import torch

    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise not_a_model(path, "torch.load(weights_only=True) cannot read it (damaged, or holding Python "
                                f"objects other than tensors and plain data; {type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise not_a_model(path, f"it holds a {type(data).__name__}, not a dict")
    missing = [key for key in FORMAT_KEYS if key not in data]
    if missing:
        raise not_a_model(path, f"it lacks the keys {', '.join(missing)}")
    return data


def not_a_model(path, reason: str) -> SpecError:
    return error(f"not an archc model file: {reason}", Span(str(path), 1, 1),
                 hint="give a file written by `archc build -o model.pt` or archc.save(model, path)")


def brief(exc: BaseException, lines: int = 2) -> str:
    """The first lines of an exception's message, on one line."""
    return " ".join(line.strip() for line in str(exc).strip().splitlines()[:lines]) or type(exc).__name__
