"""PSNR / SSIM / consistency of upscales on pairs whose scores are known, and the resampling they
rest on (core.resample)."""

import math
import re

import numpy as np
import pytest

from core.errors import ConfigError, DataError
from core.resample import back_project, bicubic, check_factor, downsample
from validators.upscale import (
    CONSISTENCY_MAX,
    consistency_error,
    psnr,
    score_upscale,
    ssim,
)


def _images(n: int = 3, side: int = 16, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.9, (n, channels, side, side)).astype(np.float32)


def test_psnr_of_a_known_offset():
    # Setup: every pixel off by 0.1 -> MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    truth = _images()

    # Run / Assert
    assert psnr(truth, truth + np.float32(0.1)) == pytest.approx(20.0, abs=1e-4)
    assert math.isinf(psnr(truth, truth))


def test_ssim_is_one_for_identical_images_and_falls_with_noise():
    truth = _images(side=16)
    noisy = np.clip(truth + np.random.default_rng(1).normal(0, 0.2, truth.shape), 0, 1)

    assert ssim(truth, truth) == pytest.approx(1.0)
    assert ssim(truth, noisy.astype(np.float32)) < 0.9


def test_ssim_matches_scikit_image_per_image_mean():
    from skimage.metrics import structural_similarity

    truth, other = _images(seed=2), _images(seed=3)
    expected = np.mean(
        [
            structural_similarity(t, o, data_range=1.0, channel_axis=0)
            for t, o in zip(truth.astype(np.float64), other.astype(np.float64), strict=True)
        ]
    )

    assert ssim(truth, other) == pytest.approx(expected)


def test_downsample_is_the_block_mean():
    image = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) / 16

    down = downsample(image, 2)

    np.testing.assert_allclose(down[0, 0], np.array([[2.5, 4.5], [10.5, 12.5]]) / 16)


def test_back_projection_makes_any_upscale_consistent():
    truth = _images(side=16)
    low = downsample(truth, 4)
    rough = bicubic(low, 4)

    fixed = back_project(rough, low, 4)

    assert consistency_error(rough, low, 4) > 1e-3  # bicubic alone is not consistent
    assert consistency_error(fixed, low, 4) < 1e-6
    assert fixed.min() >= 0 and fixed.max() <= 1


def test_score_upscale_reports_bicubic_beside_the_upscaler():
    truth = _images(side=16)
    low = downsample(truth, 2)

    scores = score_upscale(truth, bicubic(low, 2), 2)

    # Bicubic scored as the upscaler equals its own baseline.
    assert scores.psnr == pytest.approx(scores.bicubic_psnr)
    assert scores.ssim == pytest.approx(scores.bicubic_ssim)
    assert scores.psnr_gain == pytest.approx(0.0)
    assert scores.images == 3
    assert scores.consistent == (scores.consistency <= CONSISTENCY_MAX)


@pytest.mark.parametrize("factor", [3, 1, 8, True, "2"])
def test_factor_other_than_2_or_4_is_a_config_error(factor):
    with pytest.raises(ConfigError, match=re.escape("must be one of [2, 4]")):
        check_factor(factor)


def test_sides_not_divisible_by_the_factor_are_a_data_error():
    with pytest.raises(DataError, match="multiples of 4"):
        downsample(_images(side=6), 4)


def test_images_of_different_shapes_are_not_compared():
    with pytest.raises(DataError, match="same shape"):
        psnr(_images(side=16), _images(side=8))
