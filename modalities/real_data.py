"""A job's real data: loaded by its modality from the job's source, split into train and a seeded
holdout, fingerprinted.

The holdout never reaches the generator; validators use it (e.g. real-vs-real baselines), and
lineage records its indices so the split can be reproduced.
"""

from __future__ import annotations

from pathlib import Path

from modalities.base import JobView, RealData
from modalities.registry import modality_of


def load_real(job: JobView, root: str | Path) -> RealData:
    """Load the job's source with its generator's modality and split off the holdout."""
    modality = modality_of(job)
    data, origin = modality.load_job(job, root)
    fraction = job.holdout_fraction
    if fraction == 0:
        train, holdout, indices = data, None, []
    else:
        train, holdout, indices = modality.split(data, fraction, job.seed)
    return RealData(
        modality=modality.name,
        train=train,
        holdout=holdout,
        holdout_indices=indices,
        source_fingerprint=modality.fingerprint(data),
        train_fingerprint=modality.fingerprint(train),
        origin=origin,
    )
