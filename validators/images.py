"""Validation of an image dataset: a Great Expectations suite on per-image metadata, plus the
image quality checks of `validators.image_quality` against the real holdout.

Each synthetic image becomes one metadata row (`sample_id`, `label`, `pixel_mean`, `pixel_std`,
pixels on [0, 1]); the suite, derived from the real images, checks the row count, unique sample
ids, labels within the real label set with every requested label present, dataset-level pixel
mean and std within tolerance of the real images', and no blank (constant) images. Images drawn
for text prompts (a planned count per prompt) add `prompt` and `prompt_count_diff` (images of the
row's prompt minus its planned count): every prompt planned, every planned prompt present, each
as often as planned. With a real holdout, Fréchet distance / KID / PRDC (on the in-project CNN's
features, or a local CLIP model's), CAS and memorisation follow, each beside its real-vs-real
baseline: the fidelity gates compare with the holdout, the figures against the training images
stand beside them. Every gate's default is in `ImageThresholds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.errors import DataError
from validators.expectations import EXPECTED_ROWS_PARAMETER, IN_SET, ROW_COUNT
from validators.report import ValidationReport
from validators.thresholds import ImageThresholds

if TYPE_CHECKING:
    from core.images import ImageData

UNIQUE = "expect_column_values_to_be_unique"
CONTAINS = "expect_column_distinct_values_to_contain_set"
MEAN_BETWEEN = "expect_column_mean_to_be_between"
VALUES_BETWEEN = "expect_column_values_to_be_between"


@dataclass(frozen=True)
class SyntheticImages:
    """Synthetic images to validate: uint8 `images` `(N, H, W, C)`, a label name (None when
    unlabelled), an id and, for text-to-image sets, the prompt per image."""

    images: np.ndarray
    labels: list[str | None]
    sample_ids: list[str]
    prompts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.images)


def read_image_parts(parts: Sequence[str | Path]) -> SyntheticImages:
    """The images of Synthpipe image part files (`core.image_parts.image_schema`), in part order."""
    from core.image_parts import decode_png, iter_image_rows

    images, labels, ids, prompts = [], [], [], []
    for row in iter_image_rows(parts):
        images.append(decode_png(row["image"]["bytes"]))
        labels.append(row["label"])
        ids.append(row["sample_id"])
        prompts.append(row.get("prompt"))
    if not images:
        raise DataError(f"The image part files {[str(p) for p in parts]} hold no images.")
    prompted = any(prompt is not None for prompt in prompts)
    return SyntheticImages(np.stack(images), labels, ids, prompts if prompted else None)


def image_metadata(
    synthetic: SyntheticImages, prompt_counts: dict[str, int] | None = None
) -> pd.DataFrame:
    """One row per image: sample_id, label, pixel mean and std (pixels on [0, 1]); with
    `prompt_counts` (images planned per prompt) also the prompt and `prompt_count_diff`."""
    pixels = synthetic.images.reshape(len(synthetic), -1).astype(np.float64) / 255.0
    frame = pd.DataFrame(
        {
            "sample_id": synthetic.sample_ids,
            "label": synthetic.labels,
            "pixel_mean": pixels.mean(axis=1),
            "pixel_std": pixels.std(axis=1),
        }
    )
    if prompt_counts is not None:
        prompts = pd.Series(synthetic.prompts or [None] * len(synthetic), dtype=object)
        observed = prompts.map(prompts.value_counts())
        frame["prompt"] = prompts
        # An unplanned prompt is off by all its images.
        frame["prompt_count_diff"] = observed - prompts.map(prompt_counts).fillna(0)
    return frame


def derive_image_expectations(
    real_images: np.ndarray,
    label_names: Sequence[str],
    requested_labels: Sequence[str],
    thresholds: ImageThresholds,
    prompt_counts: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The expectation spec for synthetic images of `real_images` `(N, C, H, W)` in [0, 1], and
    with `prompt_counts` of images drawn that many times for each prompt."""
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
    if prompt_counts is not None:
        planned = [prompt for prompt, count in prompt_counts.items() if count]
        spec += [
            {"type": IN_SET, "kwargs": {"column": "prompt", "value_set": planned}},
            {"type": CONTAINS, "kwargs": {"column": "prompt", "value_set": planned}},
            {
                "type": VALUES_BETWEEN,
                "kwargs": {"column": "prompt_count_diff", "min_value": 0, "max_value": 0},
            },
        ]
    return spec


def validate_images(
    real_train: ImageData,
    synthetic: SyntheticImages,
    *,
    real_holdout: ImageData | None,
    extractor_cache: str | Path,
    thresholds: ImageThresholds | None = None,
    expected_rows: int | None = None,
    requested_labels: Sequence[str] = (),
    prompt_counts: dict[str, int] | None = None,
    seed: int = 0,
) -> ValidationReport:
    """Validate `synthetic` images against the real split with the image suite
    (`validators.image_checks`): the metadata suite derived from `real_train` (with
    `prompt_counts`, the images planned per prompt, also the per-prompt counts), then (with a
    `real_holdout`) the quality checks, whose CNN extractor is cached under `extractor_cache`.
    `seed` draws the quality checks' subsamples. The thresholds' kind (`ImageThresholds`, or
    `PromptedImageThresholds` for images drawn for prompts) picks the suite and the report's
    kind."""
    from validators.image_checks import ImageInputs  # it imports this module

    thresholds = thresholds or ImageThresholds()
    if len(real_train) == 0:
        raise DataError("There are no real images to validate against.")
    metadata = image_metadata(synthetic, prompt_counts)
    inputs = ImageInputs(
        real_train=real_train,
        synthetic=synthetic,
        metadata=metadata,
        real_holdout=real_holdout,
        extractor_cache=extractor_cache,
        expected_rows=expected_rows,
        requested_labels=requested_labels,
        seed=seed,
        prompt_counts=prompt_counts,
    )
    outcome = thresholds.suite().run(inputs, thresholds)
    return ValidationReport(
        checks=outcome.checks,
        real_rows=len(real_train),
        synthetic_rows=len(metadata),
        # The quality checks draw a seeded subsample of at most max_images synthetic images.
        evaluated_rows=0 if real_holdout is None else min(len(metadata), thresholds.max_images),
        sample_seed=seed,
        thresholds=thresholds.model_dump(),
        created_at=datetime.now(UTC),
        gx_result=outcome.gx_result,
        kind=thresholds.kind,
    )
