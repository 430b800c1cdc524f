"""Augmenting a labelled training set: which real records to keep and how many synthetic records
to draw per class. The provenance columns marking every record of the augmented dataset are
`modalities.provenance`'s; what a record and its class are is the modality's.

Pure functions (no Prefect, no generator): `pipeline.augment` strings them together.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError
from job.augment_config import AugmentConfig
from modalities import RealData, get_modality


def class_labels(real: RealData, label: str) -> pd.Series:
    """Each training record's class as a string (the key of plans and reports)."""
    return get_modality(real.modality).class_labels(real.train, label)


def select_training(labels: pd.Series, config: AugmentConfig, seed: int) -> np.ndarray:
    """Positions of the training records kept: `downsample` fractions, then `reduce_per_class`.

    Seeded and per class, so the same job keeps the same records.
    """
    unknown = sorted(set(config.downsample) - set(labels))
    if unknown:
        raise DataError(
            f"augment.downsample names class(es) {unknown} absent from the training records; "
            f"classes: {sorted(set(labels))}."
        )
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    for name in sorted(set(labels)):
        members = rng.permutation(np.flatnonzero(labels.to_numpy() == name))
        count = max(1, round(config.downsample.get(name, 1.0) * len(members)))
        if config.reduce_per_class is not None:
            count = min(count, config.reduce_per_class)
        kept.append(members[:count])
    return np.sort(np.concatenate(kept))


def restrict_training(real: RealData, kept: np.ndarray) -> RealData:
    """`real` with only the `kept` training records (the holdout untouched)."""
    modality = get_modality(real.modality)
    train = modality.subset(real.train, kept)
    return dataclasses.replace(real, train=train, train_fingerprint=modality.fingerprint(train))


def source_indices(real: RealData) -> np.ndarray:
    """Each training record's index in the source data (the holdout split keeps order)."""
    total = len(real.train) + len(real.holdout_indices)
    return np.setdiff1d(np.arange(total), np.asarray(real.holdout_indices, dtype=np.int64))


def plan_synthetic(counts: dict[str, int], config: AugmentConfig) -> dict[str, int]:
    """Synthetic records to draw per class.

    balance: every class up to `target_count` (default: the largest class), never fewer;
    multiply: round(factor x the class's real count).
    """
    if config.mode == "balance":
        target = config.target_count or max(counts.values())
        plan = {name: max(0, target - count) for name, count in counts.items()}
    else:
        assert config.factor is not None  # guaranteed by AugmentConfig
        plan = {name: round(config.factor * count) for name, count in counts.items()}
    if sum(plan.values()) == 0:
        raise ConfigError(
            f"augment plans no synthetic records: the real class counts {counts} already reach "
            f"the target (mode {config.mode}); raise augment.target_count or augment.factor."
        )
    return plan


def class_counts(labels: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))


def planned_labels(plan: dict[str, int]) -> list[str]:
    """One class per synthetic record, class by class in sorted order."""
    return [name for name in sorted(plan) for _ in range(plan[name])]


def plan_parents(labels: Sequence[str], plan: dict[str, int], seed: int) -> np.ndarray:
    """For each planned synthetic record (`planned_labels` order), the position of the kept real
    record it starts from: its class's records in a seeded order, cycled when the class needs
    more variations than it has records."""
    rng = np.random.default_rng(seed)
    positions = np.asarray(labels)
    parents: list[np.ndarray] = []
    for name in sorted(plan):
        members = rng.permutation(np.flatnonzero(positions == name))
        parents.append(np.resize(members, plan[name]))
    return np.concatenate(parents).astype(np.int64)
