"""The per-prompt expectations of images drawn for text prompts: every planned prompt drawn, no
other prompt, each as often as planned."""

from __future__ import annotations

import numpy as np
import pytest

from validators.expectations import run_expectations
from validators.images import SyntheticImages, derive_image_expectations, image_metadata
from validators.thresholds import PromptedImageThresholds

PLAN = {"a three": 2, "a seven": 1}
COUNT = "gx.expect_column_values_to_be_between:prompt_count_diff"
ALLOWED = "gx.expect_column_values_to_be_in_set:prompt"
PRESENT = "gx.expect_column_distinct_values_to_contain_set:prompt"


def prompt_checks(prompts: list[str]) -> dict[str, bool]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(prompts), 8, 8, 1), dtype=np.uint8)
    labels = ["3" if "three" in p else "7" for p in prompts]
    synthetic = SyntheticImages(images, labels, [f"s{i}" for i in range(len(prompts))], prompts)
    real = rng.random((6, 1, 8, 8), dtype=np.float32)
    spec = derive_image_expectations(real, ["3", "7"], [], PromptedImageThresholds(), PLAN)
    checks, _ = run_expectations(spec, [(image_metadata(synthetic, PLAN), len(prompts))])
    return {c.name: c.passed for c in checks if c.name in (COUNT, ALLOWED, PRESENT)}


@pytest.mark.parametrize(
    ("prompts", "failed"),
    [
        (["a three", "a seven", "a three"], set()),
        (["a three", "a seven", "a seven"], {COUNT}),
        (["a three", "a three", "a three"], {COUNT, PRESENT}),
        (["a three", "a three", "a seven", "a cat"], {COUNT, ALLOWED}),
    ],
)
def test_prompt_counts_are_checked_against_the_plan(prompts, failed):
    # Run
    checks = prompt_checks(prompts)

    # Assert
    assert set(checks) == {COUNT, ALLOWED, PRESENT}
    assert {name for name, passed in checks.items() if not passed} == failed


def test_images_without_a_prompt_plan_get_no_prompt_checks():
    # Setup
    images = np.zeros((2, 8, 8, 1), dtype=np.uint8)

    # Run
    metadata = image_metadata(SyntheticImages(images, ["3", "7"], ["a", "b"]))

    # Assert
    assert "prompt" not in metadata.columns
