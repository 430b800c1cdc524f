"""Memorisation of variations (augment.init): each synthetic image is compared with its own
parent, the real image it was varied from, not with the nearest of all real images, since a
variation is meant to sit near its parent.

A variation counts as a near copy when its pixel distance (L2) to its parent is below
`COPY_QUANTILE` of the real-vs-real nearest-neighbour distances: closer to its parent than almost
any real image is to another real one. `parent_copy_rate` is the share of such variations; a
strength of 0 (oversampling) gives 1.0, pure noise about 0.
"""

from __future__ import annotations

import numpy as np

from core.errors import DataError
from validators.report import CheckResult, make_check

COPY_QUANTILE = 0.05  # of real-vs-real nearest distances
PARENT_COPY_RATE_MAX = 0.5  # advisory: more than half the variations copy their parents


def parent_copy_check(real: np.ndarray, parents: np.ndarray, variations: np.ndarray) -> CheckResult:
    """`real` `(m, D)` kept real images; `parents` `(n,)` each variation's row of `real`;
    `variations` `(n, D)`, all pixels in [0, 1]. An advisory `privacy` check."""
    if len(real) < 2 or len(parents) != len(variations):
        raise DataError(
            f"parent_copy_check needs at least 2 real images and one parent per variation; got "
            f"{len(real)} real, {len(parents)} parents, {len(variations)} variations."
        )
    between = np.linalg.norm(real[:, None] - real[None], axis=2)  # (m, m)
    np.fill_diagonal(between, np.inf)
    threshold = float(np.quantile(between.min(axis=1), COPY_QUANTILE))
    to_parent = np.linalg.norm(variations - real[parents], axis=1)  # (n,)
    rate = float((to_parent < threshold).mean())
    return make_check(
        "privacy.parent_copy_rate",
        "privacy",
        rate,
        f"{rate:.1%} of {len(variations)} variations lie closer to their own parent (median L2 "
        f"{np.median(to_parent):.3f}) than {COPY_QUANTILE:.0%} of real images to their nearest "
        f"other real image (L2 {threshold:.3f})",
        {"threshold_l2": threshold, "median_parent_l2": float(np.median(to_parent))},
        limit=PARENT_COPY_RATE_MAX,
        comparison="<=",
        gate=False,
    )
