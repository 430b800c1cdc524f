"""Augmenting a labelled training set: which real records to keep, how many synthetic records to
draw per class, and the provenance columns that mark every record of the augmented dataset.

Pure functions (no Prefect, no generator): the flow `flows/augment.py` strings them together.
Provenance columns, the same for tables and images:

| column         | real record                          | synthetic record                       |
|----------------|--------------------------------------|----------------------------------------|
| `is_synthetic` | false                                | true                                   |
| `real_index`   | its row / image index in the source  | null                                   |
| `generator`    | null                                 | the generator's registry name          |
| `seed`         | null                                 | the seed of the shard that drew it     |
| `sample_index` | position in the version (real first) | position in the version                |
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import ConfigError, DataError
from core.image_parts import HF_FEATURES, IMAGE_SCHEMA
from core.images import ImageData
from job.augment_config import AugmentConfig
from job.real_data import RealData
from sources.tables import fingerprint

PROVENANCE_FIELDS = [
    pa.field("is_synthetic", pa.bool_()),
    pa.field("real_index", pa.int64()),
    pa.field("generator", pa.string()),
    pa.field("seed", pa.int64()),
    pa.field("sample_index", pa.int64()),
]
PROVENANCE_COLUMNS = [f.name for f in PROVENANCE_FIELDS]
_HF_PROVENANCE = {
    "is_synthetic": {"dtype": "bool", "_type": "Value"},
    "real_index": {"dtype": "int64", "_type": "Value"},
    "generator": {"dtype": "string", "_type": "Value"},
}


def class_labels(train: pd.DataFrame | ImageData, label: str) -> pd.Series:
    """Each training record's class as a string (the key of plans and reports)."""
    if isinstance(train, ImageData):
        return pd.Series(np.asarray(train.label_names, dtype=object)[train.labels], dtype=object)
    if label not in train.columns:
        raise DataError(
            f"augment.label {label!r} is not a column of the source; columns: {list(train)}."
        )
    if train[label].isna().any():
        raise DataError(f"The label column {label!r} has missing values; drop those rows first.")
    return train[label].astype(str).reset_index(drop=True)


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
    if isinstance(real.train, ImageData):
        train = real.train.subset(kept)
        return dataclasses.replace(real, train=train, train_fingerprint=train.fingerprint())
    train = real.train.iloc[kept].reset_index(drop=True)
    return dataclasses.replace(real, train=train, train_fingerprint=fingerprint(train))


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


def table_conditions(labels: Sequence[str], train: pd.DataFrame, label: str) -> pd.DataFrame:
    """A conditions frame fixing the label column, in the column's own dtype."""
    values = dict(zip(train[label].astype(str), train[label], strict=True))
    return pd.DataFrame({label: [values[name] for name in labels]}).astype(train[label].dtype)


def class_matched(train: pd.DataFrame, label: str, plan: dict[str, int], seed: int) -> pd.DataFrame:
    """Real training rows drawn (seeded, with replacement) in the synthetic class mix, so
    fidelity scores compare like with like rather than penalise the rebalanced classes."""
    names = train[label].astype(str)
    picks = [
        train[names == name].sample(count, replace=True, random_state=seed)
        for name, count in plan.items()
        if count
    ]
    return pd.concat(picks, ignore_index=True)


def with_provenance(
    frame: pd.DataFrame,
    *,
    real_index: Sequence[int] | None,
    generator: str | None,
    seed: int | None,
    first_index: int,
) -> pd.DataFrame:
    """`frame` plus the provenance columns: real records give `real_index`, synthetic ones
    `generator` and `seed`."""
    clash = [c for c in ("is_synthetic", "real_index", "generator") if c in frame.columns]
    if clash:
        raise DataError(
            f"The source has column(s) {clash}, which the augmented dataset uses for "
            "provenance; rename them in the source."
        )
    synthetic = real_index is None
    out = frame.copy()
    out["is_synthetic"] = synthetic
    out["real_index"] = pd.array(
        [None] * len(frame) if synthetic else list(real_index), dtype="Int64"
    )
    out["generator"] = pd.array([generator] * len(frame), dtype=object)
    out["seed"] = pd.array([seed] * len(frame), dtype="Int64")
    out["sample_index"] = np.arange(first_index, first_index + len(frame), dtype=np.int64)
    return out


def table_schema(train: pd.DataFrame) -> pa.Schema:
    """The augmented table's schema: the real columns, then the provenance columns."""
    clash = [c for c in ("seed", "sample_index") if c in train.columns]
    if clash:
        raise DataError(
            f"The source has column(s) {clash}, which the augmented dataset uses for "
            "provenance; rename them in the source."
        )
    base = pa.Schema.from_pandas(train, preserve_index=False)
    return pa.schema(list(base) + PROVENANCE_FIELDS)


def image_schema() -> pa.Schema:
    """IMAGE_SCHEMA plus the provenance columns, with `datasets` feature metadata for them."""
    fields = list(IMAGE_SCHEMA) + [f for f in PROVENANCE_FIELDS if f.name not in IMAGE_SCHEMA.names]
    features = {**HF_FEATURES, **_HF_PROVENANCE}
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})


def image_frame(data: ImageData) -> pd.DataFrame:
    """`image` (uint8 `(H, W, C)` arrays) and `label` columns, as a generator samples them."""
    pixels = np.round(data.images * 255).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    names = np.asarray(data.label_names, dtype=object)[data.labels]
    return pd.DataFrame({"image": list(pixels), "label": names})
