"""SR3 upscaling (generators.images.sr3) with a tiny UNet: shapes, seeded determinism, and the
low-resolution consistency that back-projection guarantees."""

import re

import numpy as np
import pytest

from core.errors import ConfigError
from core.resample import downsample
from generators.images.sr3 import SR3Config, train_sr3, upscale_sr3
from validators.upscale import CONSISTENCY_MAX, consistency_error

TINY = {"block_out_channels": (8, 16), "steps": 2, "batch_size": 4, "sampling_steps": 2}


@pytest.fixture(scope="module")
def high():
    return np.random.default_rng(0).uniform(0, 1, (6, 3, 16, 16)).astype(np.float32)


def test_upscale_sr3_is_seeded_and_consistent_with_its_input(high):
    # Setup
    config = SR3Config(factor=2, **TINY)
    unet = train_sr3(high, config, seed=0)
    low = downsample(high[:3], 2)

    # Run
    first = upscale_sr3(unet, low, config, seed=1)
    again = upscale_sr3(unet, low, config, seed=1)

    # Assert
    assert first.shape == (3, 3, 16, 16) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert consistency_error(first, low, 2) <= CONSISTENCY_MAX


def test_sr3_refuses_a_factor_other_than_2_or_4():
    with pytest.raises(ConfigError, match=re.escape("got 3")):
        SR3Config(factor=3)
