"""Augment jobs with `init:`: every synthetic image is a variation of a real training image of its
class, linked to it by `parent_index`; inpainting keeps the parent's pixels outside the mask; bad
init settings fail when the job is read, before anything is fitted or published."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.errors import ConfigError
from core.image_masks import policy_masks
from datastore.layout import VALIDATION_JSON
from job.augment_config import parse_augment_job
from pipeline.run import run_augment_job
from validators import ValidationReport

OPEN_GATES = {
    "expectations_must_pass": False,
    "fd_floor_ratio_max": 1e6,
    "precision_ratio_min": 0,
    "recall_ratio_min": 0,
    "cas_ratio_min": 0,
    "cas_class_ratio_min": 0,
    "extractor_steps": 20,
}


def _job(root, init, generator="ddpm"):
    params = {"conditional": True, "steps": 3, "batch_size": 16, "verbose": False}
    if generator == "ddpm":
        params |= {"block_out_channels": [16, 32], "sampling_steps": 4}
    return parse_augment_job(
        {
            "dataset": "digits-varied",
            "source": {"builtin": "digits"},
            "generator": {"name": generator, "params": params},
            "augment": {
                "mode": "multiply",
                "factor": 2,
                "reduce_per_class": 2,
                "uplift": {"seeds": 2},
                "init": init,
            },
            # A 3-step DDPM is far from real digits: the gates are opened (still computed).
            "validation": OPEN_GATES,
            "root": str(root),
        }
    )


def _pixels(cell) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])))


@pytest.mark.slow
def test_inpainting_job_links_each_variation_to_its_parent_and_keeps_its_unmasked_pixels(tmp_path):
    # Run
    version = run_augment_job(_job(tmp_path, {"strength": 1.0, "mask": "center"}))

    # Assert
    frame = pd.read_parquet(version.path / "data")
    real, synthetic = frame[~frame["is_synthetic"]], frame[frame["is_synthetic"]]
    assert len(synthetic) == 40 and real["parent_index"].isna().all()
    parents = real.set_index("real_index")
    assert set(synthetic["parent_index"]) == set(parents.index)  # every real image varied twice
    keep = ~policy_masks("center", 1, 8, 0.5, seed=0)[0]
    for _, row in synthetic.iterrows():
        parent = parents.loc[row["parent_index"]]
        assert row["label"] == parent["label"]
        assert np.array_equal(_pixels(row["image"])[keep], _pixels(parent["image"])[keep])
    report = ValidationReport.model_validate(version.read_json(VALIDATION_JSON))
    copies = report.check("privacy.parent_copy_rate")
    assert copies.value is not None and 0 <= copies.value <= 1
    lineage = version.read_json("lineage.json")
    assert lineage["augment"]["config"]["init"]["mask"] == "center"
    assert lineage["augment"]["parent_indices"] == synthetic["parent_index"].tolist()


@pytest.mark.parametrize("strength", [-0.5, 1.01])
def test_a_strength_outside_0_1_fails_when_the_job_is_read(tmp_path, strength):
    with pytest.raises(ConfigError, match=re.escape("augment.init.strength")):
        _job(tmp_path, {"strength": strength})
    assert not list(tmp_path.iterdir())  # nothing written


def test_init_with_a_generator_that_cannot_start_from_images_fails_when_read(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("augment.init needs a generator that starts")):
        _job(tmp_path, {"strength": 0.5}, generator="vae")
