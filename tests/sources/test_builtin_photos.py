"""The real-image built-ins that ship inside scikit-image and scikit-learn."""

from __future__ import annotations

import numpy as np

from sources.images import PATCHES_PER_PHOTO, load_builtin_images


def test_lfw_faces_are_a_labelled_pair_of_real_grayscale_images():
    # Run
    data = load_builtin_images("lfw_faces")

    # Assert
    assert data.images.shape == (200, 1, 25, 25)
    assert data.label_names == ["face", "non_face"]
    assert np.bincount(data.labels).tolist() == [100, 100]
    assert data.images.std() > 0.05


def test_photo_patches_are_seeded_rgb_crops_labelled_by_photo():
    # Run
    first, again = load_builtin_images("photo_patches"), load_builtin_images("photo_patches")
    small = load_builtin_images("photo_patches", 16)

    # Assert
    assert first.images.shape == (6 * PATCHES_PER_PHOTO, 3, 32, 32)
    assert {"astronaut", "china", "flower"} <= set(first.label_names)
    assert np.bincount(first.labels).tolist() == [PATCHES_PER_PHOTO] * 6
    np.testing.assert_array_equal(first.images, again.images)
    assert small.images.shape[1:] == (3, 16, 16)
    # Patches of one photo differ from each other (they are cut at different places).
    assert len({first.images[i].tobytes() for i in range(PATCHES_PER_PHOTO)}) == PATCHES_PER_PHOTO
