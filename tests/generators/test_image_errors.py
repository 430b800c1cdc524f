"""Bad input to image generators and `ImageData`: each a typed error that says what to change."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from core.images import ImageData, balanced_labels
from generators import Generator, create_generator
from sources.images import load_digits_images

TINY = {"latent_dim": 4, "base_channels": 8, "steps": 1, "batch_size": 16, "verbose": False}


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_digits_images().subset(range(100))


@pytest.fixture(scope="module")
def plain(digits) -> Generator:
    return create_generator("vae", TINY).fit(digits)


@pytest.fixture(scope="module")
def conditional(digits) -> Generator:
    return create_generator("vae", {**TINY, "conditional": True}).fit(digits)


def with_images(data: ImageData, images: np.ndarray) -> ImageData:
    return ImageData(images.astype(np.float32), data.labels[: len(images)], data.label_names)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: pd.DataFrame({"a": [1, 2]}),
            "fits an ImageData (see sources.images); got DataFrame",
        ),
        (lambda d: d.subset([0]), "The training data has 1 image(s); at least 2"),
        (
            lambda d: with_images(
                d, np.where(np.arange(64).reshape(1, 1, 8, 8) == 5, np.nan, d.images)
            ),
            "100 pixel value(s) are NaN or infinite (the first in image 0)",
        ),
        (
            lambda d: with_images(d, d.images * 16),
            "Pixel values must lie in [0, 1]; got values from 0 to 16",
        ),
        (
            lambda d: with_images(d, np.zeros((4, 1, 12, 12))),
            "side is a power of two of at least 8; got 12x12. Resize the source, e.g. size=16",
        ),
    ],
)
def test_fit_bad_training_images_raises_data_error(digits, make, message):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        create_generator("dcgan", TINY).fit(make(digits))


def test_fit_conditional_with_one_label_raises(digits):
    # Setup
    threes = digits.subset(np.flatnonzero(digits.labels == 3))

    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape("the training data has only ['3']. Set conditional: false")
    ):
        create_generator("vae", {**TINY, "conditional": True}).fit(threes)


def test_sample_conditions_on_unconditional_model_says_set_conditional(plain):
    # Run / Assert
    with pytest.raises(
        ConfigError,
        match=re.escape("cannot follow conditions on ['label']; refit it with conditional: true"),
    ):
        plain.sample(3, conditions={"label": "1"})


def test_sample_unknown_label_lists_known_labels(conditional):
    # Run / Assert
    with pytest.raises(
        DataError,
        match=re.escape("Unknown label(s) ['11'] in conditions; known labels: ['0', '1',"),
    ):
        conditional.sample(3, conditions=pd.DataFrame({"label": ["1", "11", "2"]}))


def test_sample_integer_label_matches_its_name(conditional):
    # Run
    frame = conditional.sample(2, conditions={"label": 4})

    # Assert
    assert list(frame["label"]) == ["4", "4"]


def test_sample_condition_on_image_column_raises(conditional):
    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape("take only 'label' as a condition; got column(s) ['image']")
    ):
        conditional.sample(1, conditions={"image": 0, "label": "1"})


def test_sample_condition_on_unknown_column_names_it(conditional):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("Condition column(s) ['colour']")):
        conditional.sample(1, conditions={"colour": "red"})


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (
            np.zeros((2, 1, 8, 8)),
            np.zeros(2, np.int64),
            "float32 numpy array of shape (N, C, H, W); got float64",
        ),
        (np.zeros((2, 2, 8, 8), np.float32), np.zeros(2, np.int64), "has 2 channels"),
        (
            np.zeros((2, 1, 8, 6), np.float32),
            np.zeros(2, np.int64),
            "are 8x6; images must be square",
        ),
        (np.zeros((2, 1, 8, 8), np.float32), np.zeros(3, np.int64), "has 2 images but 3 labels"),
        (
            np.zeros((2, 1, 8, 8), np.float32),
            np.array([0, 2]),
            "indices into label_names (0..1); got values from 0 to 2",
        ),
        (
            np.zeros((2, 1, 8, 8), np.float32),
            np.array([0, 1], np.int32),
            "int64 numpy array of shape (N,); got int32",
        ),
    ],
)
def test_image_data_bad_structure_raises(images, labels, message):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        ImageData(images, labels, ["a", "b"])


def test_balanced_labels_spreads_evenly_in_order():
    # Run
    frame = balanced_labels(7, ["a", "b", "c"])

    # Assert
    assert list(frame["label"]) == ["a", "b", "c", "a", "b", "c", "a"]


@pytest.mark.parametrize(
    ("n", "names", "message"),
    [
        (0, ["a"], "needs a positive integer; got 0"),
        (3, [], "needs at least one label name"),
    ],
)
def test_balanced_labels_bad_input_raises(n, names, message):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(message)):
        balanced_labels(n, names)
