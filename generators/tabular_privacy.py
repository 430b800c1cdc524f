"""A privacy signal for choosing the epoch to keep: the DCR share of a model's samples.

The distance between two rows is Gower-style, as in the privacy checks (`validators.privacy`), but
computed on the token view (`TableEncoding.token_coordinates`): the mean over columns of |u - u'|
for the positions u in [0, 1] of ordered values in their column's quantile function (0 when both
are missing, 1 when one is), and of 0 / 1 for equal / different unordered codes. The share counts
the synthetic rows whose closest real row is a training row rather than a validation row (a tie
counts half) against *equally many* rows of each, so 0.5 means the samples sit no closer to the
rows the model learnt from than to unseen rows, and 1.0 that every sample copies a training row.
"""

from __future__ import annotations

import numpy as np
import torch

Coordinates = tuple[np.ndarray, np.ndarray]  # ordered (N, K) with NaN for missing, codes (N, J)
PAIRS_PER_CHUNK = 2_000_000  # row pairs whose distances are computed at once (bounds memory)


def dcr_share(synthetic: Coordinates, train: Coordinates, validation: Coordinates) -> float:
    """Share of `synthetic` rows closer to a `train` row than to a `validation` row (ties count
    half); `train` and `validation` must hold the same number of rows."""
    if len(train[0]) != len(validation[0]):
        raise ValueError("dcr_share compares equally many training and validation rows")
    to_train = _closest(synthetic, train)
    to_validation = _closest(synthetic, validation)
    closer = (to_train < to_validation).float() + 0.5 * (to_train == to_validation).float()
    return float(closer.mean())


def _closest(rows: Coordinates, reference: Coordinates) -> torch.Tensor:
    """Distance `(N,)` from each of `rows` to its closest `reference` row."""
    ordered, codes = (torch.from_numpy(a) for a in rows)
    ref_ordered, ref_codes = (torch.from_numpy(a) for a in reference)
    columns = ordered.shape[1] + codes.shape[1]
    step = max(PAIRS_PER_CHUNK // max(len(ref_codes), 1), 1)
    closest = []
    for start in range(0, len(codes), step):
        a, b = ordered[start : start + step, None], ref_ordered[None]  # (n, 1, K), (1, R, K)
        missing = a.isnan() | b.isnan()
        ordered_terms = torch.where(missing, (a.isnan() != b.isnan()).double(), (a - b).abs())
        mismatches = codes[start : start + step, None] != ref_codes[None]  # (n, R, J)
        total = ordered_terms.sum(-1) + mismatches.sum(-1)  # (n, R)
        closest.append(total.min(dim=1).values / max(columns, 1))
    return torch.cat(closest)
