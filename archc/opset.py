"""Which ONNX opsets an export may ask for (imports onnx, not torch, so a wrong --opset is refused fast)."""

from __future__ import annotations

MIN_OPSET = 18  # older opsets need torch's version converter, which often fails and then writes 18 anyway


def newest_opset() -> int:
    """The newest ONNX opset the installed onnx package knows."""
    import onnx

    return onnx.defs.onnx_opset_version()


def opset_problem(opset: int) -> str | None:
    """Why `opset` cannot be exported to, or None."""
    if opset < MIN_OPSET:
        return f"opset {opset} is older than torch's exporter writes (opset {MIN_OPSET} and later)"
    if opset > newest_opset():
        return f"opset {opset} is newer than the installed onnx knows (opset {MIN_OPSET} to {newest_opset()})"
    return None
