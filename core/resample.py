"""Resampling between a low-resolution image and its upscale by an integer factor (2 or 4).

`downsample` is the area average (each output pixel the mean of its factor x factor block): the
operator an upscale's low-resolution consistency is measured against. `bicubic` is the
baseline upscaler. `back_project` corrects any upscale so that its `downsample` equals the input
(up to clipping to [0, 1]), which makes the consistency hold by construction.

Images are float32 `(N, C, H, W)` in [0, 1], as `core.images.ImageData` holds them; kept free
of torch so validators and benchmarks use it without loading it.
"""

from __future__ import annotations

import numpy as np

from core.errors import ConfigError, DataError

FACTORS = (2, 4)
BACK_PROJECTION_ROUNDS = 8  # clipping to [0, 1] can undo part of a round; a few more fix it


def check_factor(factor: object) -> int:
    """`factor` if it is 2 or 4, else a ConfigError naming the value and the choices."""
    if isinstance(factor, bool) or factor not in FACTORS:
        raise ConfigError(f"The upscale factor must be one of {list(FACTORS)}; got {factor!r}.")
    return int(factor)  # type: ignore[arg-type]


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """`(N, C, H, W)` -> `(N, C, H / factor, W / factor)`: the mean of each block."""
    factor = check_factor(factor)
    n, c, h, w = images.shape
    if h % factor or w % factor:
        raise DataError(
            f"Images of {h}x{w} cannot be downsampled x{factor}: both sides must be multiples "
            f"of {factor}. Crop or resize them first."
        )
    blocks = images.reshape(n, c, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(3, 5), dtype=np.float64).astype(np.float32)


def bicubic(images: np.ndarray, factor: int) -> np.ndarray:
    """`(N, C, h, w)` -> `(N, C, h * factor, w * factor)` with Pillow's bicubic filter on
    32-bit float pixels, clipped to [0, 1]."""
    from PIL import Image

    factor = check_factor(factor)
    n, c, h, w = images.shape
    out = np.empty((n, c, h * factor, w * factor), dtype=np.float32)
    for i in range(n):
        for j in range(c):
            plane = Image.fromarray(np.ascontiguousarray(images[i, j], dtype=np.float32))
            out[i, j] = plane.resize((w * factor, h * factor), Image.Resampling.BICUBIC)
    return np.clip(out, 0.0, 1.0)


def back_project(upscaled: np.ndarray, low: np.ndarray, factor: int) -> np.ndarray:
    """`upscaled` corrected so that `downsample(result, factor)` equals `low`: each round adds
    the low-resolution residual to every pixel of its block (exact for the area average), then
    clips to [0, 1]; the rounds repeat to recover what clipping took."""
    factor = check_factor(factor)
    expected = (low.shape[0], low.shape[1], low.shape[2] * factor, low.shape[3] * factor)
    if upscaled.shape != expected:
        raise DataError(
            f"An x{factor} upscale of images {low.shape} has shape {expected}; got "
            f"{upscaled.shape}."
        )
    out = upscaled.astype(np.float32, copy=True)
    for _ in range(BACK_PROJECTION_ROUNDS):
        residual = low - downsample(out, factor)  # (N, C, h, w)
        out = np.clip(out + residual.repeat(factor, axis=2).repeat(factor, axis=3), 0.0, 1.0)
    return out
