"""One contract over every registered image generator: built through the registry, fitted tiny on
8x8 digits, sampled, saved, loaded and sampled again, unconditional and class-conditional."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from core.images import ImageData, balanced_labels
from generators import (
    Generator,
    available_generators,
    create_generator,
    get_generator_class,
    load_saved_generator,
)
from generators.images.ldm import PIPELINE_CODE
from sources.images import load_digits_images

# Tiny settings per registered image generator so the contract runs in seconds. A newly
# registered image generator fails `test_every_image_generator_has_tiny_params` until it is added.
TINY_PARAMS: dict[str, dict] = {
    "dcgan": {"latent_dim": 8, "base_channels": 8},
    "vae": {"latent_dim": 4, "base_channels": 8},
    "ddpm": {"block_out_channels": (16, 32), "sampling_steps": 3},
    "ldm": {
        "vae_block_out_channels": (8, 16),
        "block_out_channels": (16, 32),
        "cross_attention_dim": 8,
        "vae_steps": 3,
        "sampling_steps": 3,
    },
}
COMMON = {"steps": 3, "batch_size": 16, "verbose": False}
IMAGE = available_generators("image")
CASES = [
    pytest.param(name, conditional, id=f"{name}-{'conditional' if conditional else 'plain'}")
    for name in IMAGE
    for conditional in (False, True)
]
DIGITS = [str(d) for d in range(10)]


def tiny(name: str, conditional: bool) -> Generator:
    return create_generator(name, {**TINY_PARAMS[name], **COMMON, "conditional": conditional})


def assert_same_samples(first: pd.DataFrame, second: pd.DataFrame) -> None:
    assert list(first["label"]) == list(second["label"])
    np.testing.assert_array_equal(np.stack(first["image"]), np.stack(second["image"]))


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_digits_images()


@pytest.fixture(scope="module")
def fitted(digits) -> Callable[[str, bool], Generator]:
    """`fitted(name, conditional)`: one tiny model per case, fitted once for the module."""
    cache: dict[tuple[str, bool], Generator] = {}

    def get(name: str, conditional: bool) -> Generator:
        if (name, conditional) not in cache:
            cache[name, conditional] = tiny(name, conditional).fit(digits, seed=1)
        return cache[name, conditional]

    return get


def test_every_image_generator_has_tiny_params():
    # Assert
    assert sorted(TINY_PARAMS) == IMAGE
    assert all(get_generator_class(name).modality == "image" for name in IMAGE)


@pytest.mark.parametrize(("name", "conditional"), CASES)
def test_sample_returns_uint8_images_with_labels(fitted, name, conditional):
    # Setup
    generator = fitted(name, conditional)

    # Run
    frame = generator.sample(13, seed=0)

    # Assert
    assert list(frame.columns) == ["image", "label"]
    assert len(frame) == 13
    assert all(img.shape == (8, 8, 1) and img.dtype == np.uint8 for img in frame["image"])
    assert np.stack(frame["image"]).std() > 0
    if conditional:
        assert set(frame["label"]) <= set(DIGITS)
    else:
        assert frame["label"].isna().all()


@pytest.mark.parametrize(("name", "conditional"), CASES)
def test_sample_same_seed_repeats_and_other_seed_differs(fitted, name, conditional):
    # Setup
    generator = fitted(name, conditional)

    # Run
    first, again, other = (generator.sample(9, seed=s) for s in (3, 3, 4))

    # Assert
    assert_same_samples(first, again)
    assert not np.array_equal(np.stack(first["image"]), np.stack(other["image"]))


@pytest.mark.parametrize(("name", "conditional"), CASES)
def test_fit_same_seed_gives_identical_samples(fitted, digits, name, conditional):
    # Run
    refit = tiny(name, conditional).fit(digits, seed=1)

    # Assert
    assert_same_samples(refit.sample(8, seed=5), fitted(name, conditional).sample(8, seed=5))


@pytest.mark.parametrize(("name", "conditional"), CASES)
def test_save_load_round_trip_samples_identically(fitted, tmp_path, name, conditional):
    # Setup
    generator = fitted(name, conditional)
    generator.save(tmp_path / "model")

    # Run
    through_registry = load_saved_generator(tmp_path / "model")
    through_class = get_generator_class(name).load(tmp_path / "model")

    # Assert
    assert type(through_registry) is type(generator)
    assert through_registry.config == generator.config
    assert through_registry.spec == generator.spec
    expected = generator.sample(7, seed=9)
    assert_same_samples(through_registry.sample(7, seed=9), expected)
    assert_same_samples(through_class.sample(7, seed=9), expected)


@pytest.mark.parametrize("name", IMAGE)
def test_save_writes_weights_as_safetensors_only(fitted, tmp_path, name):
    # Run
    fitted(name, True).save(tmp_path)

    # Assert
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    # ldm's pipeline folder carries its diffusers pipeline code (.py), which Synthpipe never runs.
    code = {tmp_path / "pipeline" / name for name in PIPELINE_CODE} if name == "ldm" else set()
    assert any(p.suffix == ".safetensors" for p in files)
    assert {p.suffix for p in files if p not in code} <= {".safetensors", ".json"}


@pytest.mark.parametrize("name", IMAGE)
def test_sample_with_mapping_conditions_fixes_the_label(fitted, name):
    # Setup
    generator = fitted(name, True)

    # Run
    frame = generator.sample(6, seed=0, conditions={"label": "3"})

    # Assert
    assert list(frame["label"]) == ["3"] * 6


@pytest.mark.parametrize("name", IMAGE)
def test_sample_with_balanced_labels_follows_each_row(fitted, name):
    # Setup
    generator = fitted(name, True)
    wanted = balanced_labels(25, generator.spec.label_names)

    # Run
    frame = generator.sample(25, seed=0, conditions=wanted)

    # Assert
    assert list(frame["label"]) == list(wanted["label"])
    assert frame["label"].value_counts().to_dict() == {d: 3 if d < "5" else 2 for d in DIGITS}


@pytest.mark.parametrize("name", IMAGE)
def test_sample_conditional_without_conditions_draws_training_labels(fitted, name):
    # Setup
    generator = fitted(name, True)

    # Run
    labels = generator.sample(200, seed=0)["label"]

    # Assert
    assert set(labels) == set(DIGITS)


@pytest.mark.parametrize("name", IMAGE)
def test_fit_rgb_16px_images_samples_that_shape(digits, name):
    # Setup: 16x16 RGB exercises the multi-stage networks and 3 channels.
    small = load_digits_images(size=16).subset(range(64))
    rgb = ImageData(np.repeat(small.images, 3, axis=1), small.labels, small.label_names)
    params = {**TINY_PARAMS[name], **COMMON, "steps": 2, "conditional": True}

    # Run
    frame = create_generator(name, params).fit(rgb, seed=0).sample(4, seed=0)

    # Assert
    assert all(img.shape == (16, 16, 3) and img.dtype == np.uint8 for img in frame["image"])
