"""The whole import: source -> spec text, checked by building it; optionally the source's weights."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import error
from . import spec_of
from .source import resolve
from .write import dump


@dataclass
class Imported:
    text: str
    spec: dict
    model: object  # the archc-built module
    state_dict: dict | None  # the source's weights, when asked for


def import_source(source: str, input_shape=None, weights: bool = False) -> Imported:
    """Import `source` (`torchvision:NAME`, `package.module:callable`, `model.onnx`) and check the spec."""
    import archc

    if source.endswith(".onnx"):
        from pathlib import Path

        from .onnx_graph import read_onnx

        model, shape = read_onnx(source)
        name = Path(source).stem
    else:
        model, name = resolve(source)
        shape = tuple(input_shape or (3, 224, 224))
    spec = spec_of(model, name, shape)
    note = "layers named after the ONNX weights" if source.endswith(".onnx") else "its state_dict keys are the source's"
    text = dump(spec, f"# Imported by `archc import {source}`; {note}.\n")
    import torch

    with torch.device("meta"):  # the check needs only names and shapes
        built = archc.build(archc.Source.text(text, f"<import of {source}>"))
    ours = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if ours != theirs:
        differ = sorted(set(ours) ^ set(theirs)) or sorted(k for k in ours if ours[k] != theirs[k])
        raise error(f"the imported spec of '{source}' does not reproduce its state_dict: {', '.join(differ[:5])}",
                    hint="this is a bug in archc import; please report it with the model")
    state = None
    if weights:
        if any(p.device.type == "meta" for p in model.parameters()):
            model, _ = resolve(source, meta=False)
        state = model.state_dict()
    return Imported(text, spec, built, state)
