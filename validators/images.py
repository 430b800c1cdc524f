"""Validation of an image dataset: a Great Expectations suite on per-image metadata.

Each synthetic image becomes one metadata row (`sample_id`, `label`, `pixel_mean`, `pixel_std`,
pixels on [0, 1]); the suite, derived from the real images, checks the row count, unique sample
ids, labels within the real label set with every requested label present, dataset-level pixel
mean and std within tolerance of the real images', and no blank (constant) images.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthpipe.errors import DataError
from validators.expectations import (
    EXPECTED_ROWS_PARAMETER,
    IN_SET,
    ROW_COUNT,
    gated,
    run_expectations,
)
from validators.report import ValidationReport
from validators.thresholds import ImageThresholds

UNIQUE = "expect_column_values_to_be_unique"
CONTAINS = "expect_column_distinct_values_to_contain_set"
MEAN_BETWEEN = "expect_column_mean_to_be_between"
VALUES_BETWEEN = "expect_column_values_to_be_between"


def image_metadata(parts: Sequence[str | Path]) -> pd.DataFrame:
    """One row per image of Synthpipe image part files: sample_id, label, pixel mean and std."""
    from datastore.images import decode_png, iter_image_rows

    rows = []
    for row in iter_image_rows(parts):
        pixels = decode_png(row["image"]["bytes"]).astype(np.float64) / 255.0
        rows.append(
            {
                "sample_id": row["sample_id"],
                "label": row["label"],
                "pixel_mean": float(pixels.mean()),
                "pixel_std": float(pixels.std()),
            }
        )
    if not rows:
        raise DataError(f"The image part files {[str(p) for p in parts]} hold no images.")
    return pd.DataFrame(rows)


def derive_image_expectations(
    real_images: np.ndarray,
    label_names: Sequence[str],
    requested_labels: Sequence[str],
    thresholds: ImageThresholds,
) -> list[dict[str, Any]]:
    """The expectation spec for synthetic images of `real_images` `(N, C, H, W)` in [0, 1]."""
    per_image = real_images.reshape(len(real_images), -1)
    mean, std = float(per_image.mean()), float(per_image.std(axis=1).mean())
    mean_tol, std_tol = thresholds.pixel_mean_tolerance, thresholds.pixel_std_tolerance
    spec: list[dict[str, Any]] = [
        {"type": ROW_COUNT, "kwargs": {"value": {"$PARAMETER": EXPECTED_ROWS_PARAMETER}}},
        {"type": UNIQUE, "kwargs": {"column": "sample_id"}},
        {"type": IN_SET, "kwargs": {"column": "label", "value_set": list(label_names)}},
        {
            "type": MEAN_BETWEEN,
            "kwargs": {
                "column": "pixel_mean",
                "min_value": mean - mean_tol,
                "max_value": mean + mean_tol,
            },
        },
        {
            "type": MEAN_BETWEEN,
            "kwargs": {
                "column": "pixel_std",
                "min_value": std - std_tol,
                "max_value": std + std_tol,
            },
        },
        # A constant image (std ~ 0) is blank: a collapsed or diverged generator.
        {
            "type": VALUES_BETWEEN,
            "kwargs": {
                "column": "pixel_std",
                "min_value": thresholds.blank_std_max,
                "strict_min": True,
            },
        },
    ]
    if requested_labels:
        spec.append(
            {"type": CONTAINS, "kwargs": {"column": "label", "value_set": list(requested_labels)}}
        )
    return spec


def validate_images(
    real_images: np.ndarray,
    label_names: Sequence[str],
    parts: Sequence[str | Path],
    *,
    thresholds: ImageThresholds | None = None,
    expected_rows: int | None = None,
    requested_labels: Sequence[str] = (),
) -> ValidationReport:
    """Validate Synthpipe image part files against `real_images` `(N, C, H, W)` in [0, 1]."""
    thresholds = thresholds or ImageThresholds()
    if len(real_images) == 0:
        raise DataError("There are no real images to validate against.")
    metadata = image_metadata(parts)
    spec = derive_image_expectations(real_images, label_names, requested_labels, thresholds)
    if expected_rows is None:
        spec = [entry for entry in spec if entry["type"] != ROW_COUNT]
    checks, gx_result = run_expectations(spec, [(metadata, expected_rows or len(metadata))])
    return ValidationReport(
        checks=gated(checks, thresholds.expectations_must_pass),
        real_rows=len(real_images),
        synthetic_rows=len(metadata),
        evaluated_rows=len(metadata),
        sample_seed=0,
        thresholds=thresholds.model_dump(),
        created_at=datetime.now(UTC),
        gx_result=gx_result,
    )
