"""PyTorch's output-size formulas for sliding windows (conv and pooling), exactly."""

from __future__ import annotations

from .base import ShapeError


def window_out(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool, axis: str) -> int:
    """Output length along one axis: floor((n + 2p - d(k-1) - 1) / s) + 1, as torch computes it."""
    effective = dilation * (kernel - 1) + 1
    padded = size + 2 * pad
    if padded < effective and not ceil_mode:  # with ceil_mode torch lets the one window overhang the end
        raise ShapeError(
            f"kernel {effective} (with dilation) is larger than the padded input {padded} along {axis}",
            "use a smaller kernel, more padding, or fewer downsampling layers before this one",
        )
    span = padded - effective
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # torch: the last window must start inside the input or left padding
    if out <= 0:
        raise ShapeError(f"output size along {axis} would be {out}", "the input is too small for this layer")
    return out


def window_out2d(hw, kernel, stride, pad, dilation=(1, 1), ceil_mode=False) -> tuple[int, int]:
    return tuple(
        window_out(n, k, s, p, d, ceil_mode, axis)
        for n, k, s, p, d, axis in zip(hw, kernel, stride, pad, dilation, ("height", "width"))
    )
