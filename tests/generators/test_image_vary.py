"""Image-to-image and inpainting on the DDPM: strength 0 returns the input, strength 1 is a plain
sample, a mask keeps every pixel outside it, and bad strengths, masks and generators are typed
errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from core.image_masks import policy_masks
from generators import Generator, create_generator
from sources.images import load_digits_images

TINY = {"block_out_channels": (16, 32), "steps": 3, "batch_size": 16, "conditional": True}


@pytest.fixture(scope="module")
def digits():
    return load_digits_images().subset(np.arange(40))


@pytest.fixture(scope="module")
def ddpm(digits) -> Generator:
    params = {**TINY, "verbose": False, "sampling_steps": 6}
    return create_generator("ddpm", params).fit(digits, seed=0)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """(n, C, H, W) in [0, 1] -> (n, H, W, C) uint8, as a sampled frame holds images."""
    return np.round(images.transpose(0, 2, 3, 1) * 255).astype(np.uint8)


def test_vary_strength_0_returns_the_input(ddpm, digits):
    # Setup
    images, labels = digits.images[:5], [digits.label_names[i] for i in digits.labels[:5]]

    # Run
    frame = ddpm.vary(images, labels, strength=0.0, seed=1)

    # Assert
    assert np.array_equal(np.stack(frame["image"]), as_uint8(images))
    assert list(frame["label"]) == labels


def test_vary_strength_1_is_a_plain_sample(ddpm, digits):
    # Setup
    images, labels = digits.images[:6], [digits.label_names[i] for i in digits.labels[:6]]

    # Run
    varied = ddpm.vary(images, labels, strength=1.0, seed=3)
    sampled = ddpm.sample(6, seed=3, conditions=pd.DataFrame({"label": labels}))

    # Assert
    assert np.array_equal(np.stack(varied["image"]), np.stack(sampled["image"]))


def test_vary_midway_changes_the_image_but_stays_closer_than_a_sample(ddpm, digits):
    # Setup
    images, labels = digits.images[:8], [digits.label_names[i] for i in digits.labels[:8]]
    real = as_uint8(images).astype(float)

    # Run
    low = np.stack(ddpm.vary(images, labels, strength=0.3, seed=0)["image"]).astype(float)
    full = np.stack(ddpm.vary(images, labels, strength=1.0, seed=0)["image"]).astype(float)

    # Assert
    assert np.abs(low - real).mean() > 0
    assert np.abs(low - real).mean() < np.abs(full - real).mean()


@pytest.mark.parametrize("policy", ["center", "boxes"])
def test_inpaint_keeps_every_pixel_outside_the_mask(ddpm, digits, policy):
    # Setup
    images, labels = digits.images[:6], [digits.label_names[i] for i in digits.labels[:6]]
    masks = policy_masks(policy, 6, digits.size, 0.5, seed=0)

    # Run
    out = np.stack(ddpm.vary(images, labels, strength=1.0, seed=0, masks=masks)["image"])

    # Assert
    kept = ~masks  # (n, H, W)
    assert np.array_equal(out[..., 0][kept], as_uint8(images)[..., 0][kept])
    assert not np.array_equal(out[..., 0][masks], as_uint8(images)[..., 0][masks])


def test_policy_masks_center_is_the_middle_square_and_boxes_are_seeded():
    # Run
    center = policy_masks("center", 2, 8, 0.5, seed=0)
    boxes = policy_masks("boxes", 4, 8, 0.25, seed=7)

    # Assert
    assert center[:, 2:6, 2:6].all() and center.sum() == 2 * 16
    assert (boxes.sum(axis=(1, 2)) == 4).all()
    assert np.array_equal(boxes, policy_masks("boxes", 4, 8, 0.25, seed=7))


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_vary_strength_outside_0_1_is_a_config_error(ddpm, digits, strength):
    message = f"strength must lie in [0, 1]; got {strength}"
    with pytest.raises(ConfigError, match=re.escape(message)):
        ddpm.vary(digits.images[:2], ["0", "1"], strength=strength, seed=0)


def test_vary_mask_size_mismatch_is_a_data_error(ddpm, digits):
    # Setup
    masks = np.ones((2, 4, 4), dtype=bool)

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("masks have shape (2, 4, 4)")):
        ddpm.vary(digits.images[:2], ["0", "1"], strength=0.5, seed=0, masks=masks)


def test_vary_on_a_generator_without_it_is_a_config_error(digits):
    # Setup
    params = {"steps": 1, "batch_size": 8, "verbose": False}
    vae = create_generator("vae", params).fit(digits, seed=0)

    # Run / Assert
    with pytest.raises(ConfigError, match="cannot start from real images"):
        vae.vary(digits.images[:2], None, strength=0.5, seed=0)
