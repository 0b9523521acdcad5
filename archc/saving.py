"""Saved models: the state_dict with the resolved spec that rebuilds its module.

The file is a plain dict (tensors, dicts, lists, strings, numbers), so
`torch.load(path, weights_only=True)` reads it:
{"state_dict", "spec", "params", "input_shape", "archc_version"}.

A file to load is checked before torch reads it: a regular file, in torch's zip format (archc
writes no other), whose zip directory declares no more bytes than a stored archive of its size
can hold (a zip bomb is refused unread). What torch.load returns is checked too (types and shapes
of every part) before the spec is analysed; a saved spec is already resolved, so one that names
files (`extends:`, `imports:`) is refused rather than read.
"""

from __future__ import annotations

import os

from .atomic import atomic_path
from .errors import SpecError, Span, error
from .files import Unreadable, check_regular

FORMAT_KEYS = ("state_dict", "spec", "params", "input_shape", "archc_version")
ZIP_SLACK = 1 << 20  # bytes an archive's entries may declare beyond twice its size


def checkpoint(model, state_dict: dict | None = None) -> dict:
    """The saved form of a model built by archc (`state_dict`: its weights, if not `model.state_dict()`)."""
    from . import __version__

    info = getattr(model, "archc_spec", None)
    if info is None:
        raise ValueError("only models built by archc.build can be saved with their spec")
    state = model.state_dict() if state_dict is None else state_dict
    return {"state_dict": state, "spec": info["spec"], "params": info["params"],
            "input_shape": info["input_shape"], "archc_version": __version__}


def save(model, path: str | os.PathLike, state_dict: dict | None = None) -> None:
    """Write the model atomically: an existing file is replaced only by a complete one."""
    import torch

    data = checkpoint(model, state_dict)
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
    """The checkpoint dict of an archc model file, every part checked."""
    data = torch_load(path)
    if not isinstance(data, dict):
        raise not_a_model(path, f"it holds a {type(data).__name__}, not a dict")
    missing = [key for key in FORMAT_KEYS if key not in data]
    if missing:
        raise not_a_model(path, f"it lacks the keys {', '.join(missing)}")
    problem = _structure_problem(data)
    if problem:
        raise not_a_model(path, problem)
    return data


def _structure_problem(data: dict) -> str | None:
    import torch

    spec, params, shape, state = data["spec"], data["params"], data["input_shape"], data["state_dict"]
    if not isinstance(spec, dict):
        return f"its spec is a {type(spec).__name__}, not a mapping"
    if "extends" in spec or "imports" in spec:
        return "its spec names other files ('extends'/'imports'); a saved spec is resolved and names none"
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        return f"its params are a {type(params).__name__}, not a mapping of names"
    if not (isinstance(shape, (list, tuple)) and 1 <= len(shape) <= 3
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        return f"its input_shape {shape!r:.80} is not 1 to 3 positive sizes"
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        return "its state_dict is not a mapping of names to tensors"
    return None


def torch_load(path: str | os.PathLike):
    """torch.load(weights_only=True) of a file checked first: regular, a zip archive whose entries
    declare at most what a stored archive of its size holds. Raises SpecError naming the file."""
    import pickle
    import zipfile

    import torch

    try:
        size = check_regular(path)
    except Unreadable as exc:
        raise not_a_model(path, f"cannot read it: {exc.reason}") from None
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise not_a_model(path, f"cannot read it: not a zip archive as torch.save writes ({brief(exc, 1)})") from None
    if declared > 2 * size + ZIP_SLACK:
        raise not_a_model(path, f"cannot read it: its entries declare {declared:,} bytes in a {size:,}-byte file "
                                "(a compressed archive; torch.save stores its entries uncompressed)")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise not_a_model(path, "torch.load(weights_only=True) cannot read it (damaged, or holding Python "
                                f"objects other than tensors and plain data; {type(exc).__name__})") from None


def not_a_model(path, reason: str) -> SpecError:
    return error(f"not an archc model file: {reason}", Span(str(path), 1, 1),
                 hint="give a file written by `archc build -o model.pt` or archc.save(model, path)")


def brief(exc: BaseException, lines: int = 2) -> str:
    """The first lines of an exception's message, on one line."""
    return " ".join(line.strip() for line in str(exc).strip().splitlines()[:lines]) or type(exc).__name__
