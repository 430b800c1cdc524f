"""Inpainting masks by policy: which pixels of each real image are regenerated (True) and which
are kept. Pure numpy and seeded, so the same job masks the same pixels."""

from __future__ import annotations

from typing import Literal

import numpy as np

MaskPolicy = Literal["center", "boxes"]


def policy_masks(policy: MaskPolicy, n: int, size: int, fraction: float, seed: int) -> np.ndarray:
    """`n` bool masks `(n, size, size)`, each a square of side round(fraction x size): in the
    centre (`center`), or at a seeded random position per image (`boxes`)."""
    side = min(size, max(1, round(fraction * size)))
    if policy == "center":
        corners = np.full((n, 2), (size - side) // 2)
    else:
        corners = np.random.default_rng(seed).integers(0, size - side + 1, size=(n, 2))
    masks = np.zeros((n, size, size), dtype=bool)
    for mask, (top, left) in zip(masks, corners, strict=True):
        mask[top : top + side, left : left + side] = True
    return masks
