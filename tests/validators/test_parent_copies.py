"""Each variation is judged against its own parent: copies of the parent count as memorised,
images far from it do not."""

from __future__ import annotations

import numpy as np

from validators.parent_copies import parent_copy_check


def test_parent_copy_rate_is_1_for_copies_and_0_for_other_images():
    # Setup
    rng = np.random.default_rng(0)
    real = rng.random((30, 64))
    parents = np.arange(30)
    far = rng.random((30, 64))  # unrelated images, as far from a parent as real images are apart

    # Run
    copies = parent_copy_check(real, parents, real[parents] + 1e-4)
    others = parent_copy_check(real, parents, far)
    swapped = parent_copy_check(real, parents, real[(parents + 1) % 30])  # copies of another

    # Assert
    assert copies.value == 1.0 and not copies.passed
    assert others.value == 0.0 and others.passed
    assert swapped.value == 0.0  # a copy of some real image, but not of its own parent
