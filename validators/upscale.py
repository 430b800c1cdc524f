"""How good an upscale is: PSNR and SSIM (scikit-image) against ground truth, beside the bicubic
baseline, and the low-resolution consistency (the upscale downsampled, compared with its input).

Pure functions of float32 `(N, C, H, W)` images in [0, 1]; scores are per-image means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import DataError
from core.resample import bicubic, downsample

# A consistency error of at most one 8-bit level on average: the upscale reproduces its input.
CONSISTENCY_MAX = 1 / 255


def psnr(truth: np.ndarray, test: np.ndarray) -> float:
    """Mean PSNR in dB over the images (data range 1); an exact image scores `inf`."""
    from skimage.metrics import peak_signal_noise_ratio

    _same_shape(truth, test)
    with np.errstate(divide="ignore"):
        scores = [
            peak_signal_noise_ratio(t, s, data_range=1.0)
            for t, s in zip(truth.astype(np.float64), test.astype(np.float64), strict=True)
        ]
    return float(np.mean(scores))


def ssim(truth: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM over the images (data range 1, the channels averaged); 1 for an exact image."""
    from skimage.metrics import structural_similarity

    _same_shape(truth, test)
    side = min(truth.shape[-2:])
    window = min(7, side - 1 + side % 2)  # skimage's default 7, or the largest odd side that fits
    scores = [
        structural_similarity(t, s, data_range=1.0, channel_axis=0, win_size=window)
        for t, s in zip(truth.astype(np.float64), test.astype(np.float64), strict=True)
    ]
    return float(np.mean(scores))


def consistency_error(upscaled: np.ndarray, low: np.ndarray, factor: int) -> float:
    """Mean absolute difference between `downsample(upscaled)` and the input `low`."""
    down = downsample(upscaled, factor)
    _same_shape(low, down)
    return float(np.abs(down.astype(np.float64) - low).mean())


@dataclass(frozen=True)
class UpscaleScores:
    """One upscaler on held-out pairs: its PSNR / SSIM, bicubic's on the same inputs, and its
    consistency error."""

    factor: int
    images: int
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float
    consistency: float

    @property
    def psnr_gain(self) -> float:
        return self.psnr - self.bicubic_psnr

    @property
    def consistent(self) -> bool:
        return self.consistency <= CONSISTENCY_MAX


def score_upscale(truth: np.ndarray, upscaled: np.ndarray, factor: int) -> UpscaleScores:
    """`upscaled` (of `downsample(truth, factor)`) scored against `truth` and bicubic."""
    low = downsample(truth, factor)
    baseline = bicubic(low, factor)
    return UpscaleScores(
        factor=factor,
        images=len(truth),
        psnr=psnr(truth, upscaled),
        ssim=ssim(truth, upscaled),
        bicubic_psnr=psnr(truth, baseline),
        bicubic_ssim=ssim(truth, baseline),
        consistency=consistency_error(upscaled, low, factor),
    )


def _same_shape(truth: np.ndarray, test: np.ndarray) -> None:
    if truth.shape != test.shape:
        raise DataError(
            f"Images compared must have the same shape; got {truth.shape} and {test.shape}."
        )
