"""A job's real data: loaded from its source, split into train and a seeded holdout, fingerprinted.

The holdout never reaches the generator; validators use it (e.g. real-vs-real baselines), and
lineage records its indices so the split can be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError
from core.images import ImageData
from job.config import JobConfig
from sources import images as image_sources
from sources import tables


@dataclass(frozen=True)
class RealData:
    """Train and holdout parts of the real data (DataFrames or ImageData)."""

    train: Any
    holdout: Any | None
    holdout_indices: list[int]
    source_fingerprint: str
    train_fingerprint: str
    origin: str

    @property
    def label_names(self) -> list[str]:
        return list(self.train.label_names) if isinstance(self.train, ImageData) else []


def load_real(job: JobConfig, root: str | Path) -> RealData:
    """Load the job's source for its generator's modality and split off the holdout."""
    image = job.generator.modality == "image"
    data, origin = _load(job, root, image)
    fraction = job.holdout_fraction
    if fraction == 0:
        train, holdout, indices = data, None, []
    elif image:
        train, holdout, indices = image_sources.split_holdout(data, fraction, job.seed)
    else:
        train, holdout, indices = split_table(data, fraction, job.seed)
    return RealData(
        train=train,
        holdout=holdout,
        holdout_indices=indices,
        source_fingerprint=_fingerprint(data),
        train_fingerprint=_fingerprint(train),
        origin=origin,
    )


def check_conditions(real: RealData, conditions: dict[str, Any] | None) -> None:
    """Fail before fitting when conditions name unknown columns or values never seen."""
    if not conditions:
        return
    if isinstance(real.train, ImageData):
        unknown = sorted(set(conditions) - {"label"})
        if unknown:
            raise DataError(f"Image conditions take only 'label'; got {unknown}.")
        if str(conditions["label"]) not in real.label_names:
            raise DataError(
                f"Condition label {conditions['label']!r} is not a real label; "
                f"labels: {real.label_names}."
            )
        return
    tables.rows_matching(real.train, conditions)


def check_target(real: RealData, target: str | None) -> None:
    """Fail before fitting when the job's utility target is not a column of the real table."""
    if target is not None and target not in real.train.columns:
        raise ConfigError(
            f"target {target!r} is not a column of the real table; columns: "
            f"{list(real.train.columns)}. Name the column a model should predict."
        )


def _load(job: JobConfig, root: str | Path, image: bool) -> tuple[Any, str]:
    source = job.source
    if source.builtin is not None:
        if image:
            data = image_sources.load_builtin_images(source.builtin, source.image_size)
        else:
            data = tables.load_builtin(source.builtin)
        return data, f"builtin:{source.builtin}"
    if source.dataset is not None:
        from datastore import DatasetStore

        # Through the manifest: only its parts, each checked against its sha256.
        version = DatasetStore(root).open(source.dataset)
        origin = f"dataset:{version.ref}"
        if image:
            parts = version.verified_part_paths()
            data = image_sources.load_image_parquet(
                parts, source.image_size, source.max_image_pixels
            )
            return data, origin
        frame = version.to_pandas()
        if frame.empty:
            raise DataError(f"Source dataset {version.ref} has no rows; use a non-empty version.")
        return frame, origin
    path = Path(source.path)
    origin = str(path.resolve())
    if not image:
        return tables.load_table(path), origin
    if path.is_file() or any(path.glob("*.parquet")):
        return image_sources.load_image_parquet(
            path, source.image_size, source.max_image_pixels
        ), origin
    if source.image_size is None:
        raise DataError(
            f"Images from the folder {path} need source.image_size (the square side to resize "
            "every image to)."
        )
    return image_sources.load_image_folder(
        path, source.image_size, source.channels, source.max_image_pixels
    ), origin


def split_table(
    frame: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Train rows, a seeded holdout of `fraction` of the rows, and the holdout's row positions."""
    rng = np.random.default_rng(seed)
    count = round(fraction * len(frame))
    if not 0 < count < len(frame) - 1:
        raise DataError(
            f"holdout_fraction={fraction} of {len(frame)} rows leaves {count} for the holdout and "
            f"{len(frame) - count} for training; both need rows (training at least 2)."
        )
    held = np.sort(rng.choice(len(frame), size=count, replace=False))
    train = np.setdiff1d(np.arange(len(frame)), held)
    return (
        frame.iloc[train].reset_index(drop=True),
        frame.iloc[held].reset_index(drop=True),
        held.tolist(),
    )


def _fingerprint(data: Any) -> str:
    return data.fingerprint() if isinstance(data, ImageData) else tables.fingerprint(data)
