"""The image suite: every check of synthetic images against the real split, in report order.

A new image check is one `Check` in `IMAGE_SUITE` (with a `Measure`, or judging one that exists)
plus its thresholds' fields in `validators.thresholds.ImageGates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from validators.check import (
    REAL_AND_SYNTHETIC,
    WITH_HOLDOUT,
    Check,
    Measure,
    Measurement,
    Need,
    Suite,
    SuiteRun,
    Threshold,
)
from validators.expectations import ROW_COUNT, gated, run_expectations
from validators.image_plots import (
    ImageEvidence,
    cas_per_class_figure,
    nearest_figure,
    quality_vs_floor_figure,
)
from validators.image_quality import image_quality_checks
from validators.images import SyntheticImages, derive_image_expectations
from validators.report import make_check
from validators.thresholds import ImageThresholds

if TYPE_CHECKING:
    from core.images import ImageData


@dataclass(frozen=True)
class ImageInputs:
    """What the image checks read: the real split, the synthetic images and their metadata rows
    (`validators.images.image_metadata`)."""

    real_train: ImageData
    synthetic: SyntheticImages
    metadata: pd.DataFrame
    real_holdout: ImageData | None
    extractor_cache: str | Path
    expected_rows: int | None
    requested_labels: Sequence[str]
    seed: int
    prompt_counts: dict[str, int] | None = None  # text-to-image sets: images planned per prompt

    @property
    def labels(self) -> list[str | None] | None:
        """The synthetic labels when every one is a real label name, else None: unknown or
        missing labels fail the GX label check, and CAS has nothing to train on."""
        known = set(self.real_train.label_names)
        labels = self.synthetic.labels
        return labels if all(label in known for label in labels) else None

    @property
    def available(self) -> frozenset[Need]:
        present = {"holdout": self.real_holdout is not None, "labels": self.labels is not None}
        return REAL_AND_SYNTHETIC | {need for need, there in present.items() if there}


ImageRun = SuiteRun[ImageInputs, ImageThresholds]


def _expectations(run: ImageRun) -> Measurement:
    """The GX suite on per-image metadata: `expectations.success`, then each `gx.*`."""
    inputs = run.inputs
    train = inputs.real_train
    spec = derive_image_expectations(
        train.images,
        train.label_names,
        inputs.requested_labels,
        run.thresholds,
        inputs.prompt_counts,
    )
    if inputs.expected_rows is None:
        spec = [entry for entry in spec if entry["type"] != ROW_COUNT]
    frames = [(inputs.metadata, inputs.expected_rows or len(inputs.metadata))]
    checks, gx_result = run_expectations(spec, frames)
    gates = gated(checks, run.thresholds.expectations_must_pass)
    return Measurement({"expectations.success": gates}, gx_result)


def _quality_skipped(run: ImageRun) -> Measurement:
    """A note in place of the quality checks when there is no real holdout to compare with."""
    if run.inputs.real_holdout is not None:
        return Measurement({})
    note = make_check(
        "image.quality_skipped",
        "diagnostic",
        None,
        "Image quality (Fréchet distance, PRDC, CAS, memorisation) not measured: there is no "
        "real holdout (holdout_fraction 0).",
        {},
    )
    return Measurement.of([note])


def _quality(run: ImageRun) -> Measurement:
    inputs = run.inputs
    assert inputs.real_holdout is not None  # the quality checks need a holdout
    checks = image_quality_checks(
        inputs.real_train,
        inputs.real_holdout,
        inputs.synthetic.images,
        inputs.labels,
        run.thresholds,
        cache_dir=inputs.extractor_cache,
        seed=inputs.seed,
    )
    return Measurement.of(checks)


EXPECTATIONS = Measure("expectations", _expectations, "expectations (GX)")
QUALITY_SKIPPED = Measure("quality_skipped", _quality_skipped)
QUALITY = Measure("image_quality", _quality)
WITH_LABELS = WITH_HOLDOUT | {"labels"}

ImageCheck = Check[ImageInputs, ImageThresholds, ImageEvidence]
IMAGE_SUITE = Suite[ImageInputs, ImageThresholds, ImageEvidence](
    "image",
    (
        ImageCheck(
            "expectations.success",
            "schema",
            REAL_AND_SYNTHETIC,
            EXPECTATIONS,
            (
                Threshold("pixel_mean_tolerance", "pixel_mean_tolerance"),
                Threshold("pixel_std_tolerance", "pixel_std_tolerance"),
                Threshold("blank_std_max", "blank_std_max"),
            ),
        ),
        ImageCheck("image.quality_skipped", "diagnostic", REAL_AND_SYNTHETIC, QUALITY_SKIPPED),
        ImageCheck("image.extractor", "diagnostic", WITH_HOLDOUT, QUALITY),
        ImageCheck(
            "image.fd_cnn",
            "fidelity",
            WITH_HOLDOUT,
            QUALITY,
            (Threshold("floor_ratio_max", "fd_floor_ratio_max"),),
            render=quality_vs_floor_figure,
        ),
        ImageCheck("image.fd_cnn_train", "fidelity", WITH_HOLDOUT, QUALITY),
        ImageCheck("image.kid_cnn", "fidelity", WITH_HOLDOUT, QUALITY),
        ImageCheck(
            "image.precision",
            "fidelity",
            WITH_HOLDOUT,
            QUALITY,
            (Threshold("holdout_ratio_min", "precision_ratio_min"),),
        ),
        ImageCheck(
            "image.recall",
            "fidelity",
            WITH_HOLDOUT,
            QUALITY,
            (Threshold("holdout_ratio_min", "recall_ratio_min"),),
        ),
        ImageCheck("image.density", "fidelity", WITH_HOLDOUT, QUALITY),
        ImageCheck("image.coverage", "fidelity", WITH_HOLDOUT, QUALITY),
        ImageCheck(
            "image.cas",
            "utility",
            WITH_LABELS,
            QUALITY,
            (Threshold("ratio_min", "cas_ratio_min"),),
        ),
        ImageCheck(
            "image.cas_per_class",
            "utility",
            WITH_LABELS,
            QUALITY,
            (Threshold("class_ratio_min", "cas_class_ratio_min"),),
            render=cas_per_class_figure,
        ),
        ImageCheck(
            "image.memorised_pixel",
            "privacy",
            WITH_HOLDOUT,
            QUALITY,
            (Threshold("max", "memorised_share_max", "<="),),
            render=nearest_figure,
        ),
        ImageCheck(
            "image.memorised_feature",
            "privacy",
            WITH_HOLDOUT,
            QUALITY,
            (Threshold("max", "memorised_share_max", "<="),),
            render=nearest_figure,
        ),
        ImageCheck(
            "image.exact_copies",
            "privacy",
            WITH_HOLDOUT,
            QUALITY,
            (Threshold("max", "exact_copies_max", "<="),),
        ),
    ),
)

# Images drawn for text prompts: the same checks, under their own kind; the expectations add the
# per-prompt counts when the inputs carry them (`ImageInputs.prompt_counts`).
PROMPTED_IMAGE_SUITE = Suite[ImageInputs, ImageThresholds, ImageEvidence](
    "prompted_image", IMAGE_SUITE.checks
)
