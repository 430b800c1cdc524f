"""The generation flow on image jobs: versioned image datasets readable without Synthpipe."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.dataset as pads
import pytest
from PIL import Image

from core.errors import DataError, ValidationFailedError
from core.image_parts import label_column, label_names_of
from datastore import DatasetStore, open_dataset
from flows.generate import generate_dataset
from job.config import parse_job

pytestmark = pytest.mark.usefixtures("prefect_harness")
DIGITS = [str(d) for d in range(10)]


def _job(root, **overrides):
    job = {
        "dataset": "digits-flow",
        "source": {"builtin": "digits"},
        "generator": {
            "name": "ddpm",
            "params": {
                "conditional": True,
                "steps": 3,
                "batch_size": 16,
                "verbose": False,
                "block_out_channels": [16, 32],
                "sampling_steps": 2,
            },
        },
        "rows": 30,
        "shard_rows": 16,
        "balanced_labels": True,
        "seed": 1,
        "root": str(root),
        # A 3-step model draws noise: loosen the pixel and quality gates so this tests the
        # plumbing; a 50-step extractor keeps it fast.
        "validation": {
            "pixel_mean_tolerance": 1.0,
            "pixel_std_tolerance": 1.0,
            "fd_floor_ratio_max": 1e6,
            "precision_ratio_min": 0.0,
            "recall_ratio_min": 0.0,
            "cas_ratio_min": 0.0,
            "cas_class_ratio_min": 0.0,
            "extractor_steps": 50,
        },
    }
    job.update(overrides)
    return parse_job(job)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return root, generate_dataset(_job(root))


def test_image_job_publishes_png_rows_readable_with_pyarrow_and_pillow(image_run):
    # Setup
    root, ref = image_run
    version = open_dataset(ref, root=root)

    # Run
    table = pads.dataset(version.path / "data").to_table()
    rows = table.to_pylist()
    images = [np.asarray(Image.open(io.BytesIO(r["image"]["bytes"]))) for r in rows]

    # Assert
    assert version.manifest.kind == "image" and version.manifest.rows == 30
    assert set(table.column_names) == {"image", "label", "sample_id", "seed", "sample_index"}
    assert all(image.shape == (8, 8) and image.dtype == np.uint8 for image in images)
    assert sorted(r["sample_index"] for r in rows) == list(range(30))
    assert label_names_of(table.schema) == DIGITS  # a ClassLabel of the real classes
    labels = label_column(table)
    assert sorted(set(labels)) == DIGITS  # balanced: every label present
    assert all(
        r["image"]["path"] == f"{label}/{r['sample_id']}.png"
        for r, label in zip(rows, labels, strict=True)
    )


def test_image_job_writes_grid_imagefolder_and_lineage(image_run):
    # Setup
    root, ref = image_run
    version = open_dataset(ref, root=root)

    # Run
    metadata = [
        json.loads(line)
        for line in (version.path / "images" / "metadata.jsonl").read_text().splitlines()
    ]
    lineage = version.read_json("lineage.json")

    # Assert
    assert len(metadata) == 30
    assert all((version.path / "images" / m["file_name"]).is_file() for m in metadata)
    assert Image.open(version.path / "grid.png").size[0] > 0
    assert lineage["generator"]["sampling"] == {
        "sampler": "ddim",
        "scheduler": "DDIMScheduler",
        "num_inference_steps": 2,
    }
    assert lineage["source"]["holdout_fraction"] == pytest.approx(0.2)
    assert len(lineage["source"]["holdout_indices"]) == pytest.approx(1797 * 0.2, abs=10)
    assert lineage["source"]["train_records"] + len(lineage["source"]["holdout_indices"]) == 1797
    version.verify()


def test_image_job_writes_html_report_with_plots_into_the_version(image_run):
    # Setup
    root, ref = image_run
    version = open_dataset(ref, root=root)
    html = (version.path / "report" / "report.html").read_text()

    # Run
    report = version.read_json("validation.json")
    checks = {check["name"]: check for check in report["checks"]}

    # Assert: plots exist, are PNGs, and the page links and embeds each of them
    plots = sorted((version.path / "report" / "plots").glob("*.png"))
    names = {plot.stem for plot in plots}
    assert {"samples", "quality_vs_floor", "cas_per_class", "nearest_pixel"} <= names
    for plot in plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{plot.name}" in html
    assert html.count("data:image/png;base64,") == len(plots)
    fd = checks["image.fd_cnn"]
    assert fd["data"]["layer"] == "embed" and fd["data"]["dim"] == 64
    assert len(fd["data"]["sha256"]) == 64 and fd["data"]["features"] == "cnn"
    # gated against the holdout (10 half-splits); the training-image figures beside it (5 draws)
    assert fd["data"]["reference"] == "holdout" and fd["data"]["subsets"] == 10
    assert fd["data"]["train"]["reference"] == "train" and fd["data"]["train"]["subsets"] == 5
    assert checks["image.fd_cnn_train"]["value"] == fd["data"]["train"]["synthetic"]["distance"]
    assert fd["data"]["noise"]["distance"] > fd["data"]["floor"]["distance"]
    assert (root / ".extractors").is_dir()  # cached in the store, by the real data
    version.verify()  # the report is part of the verified version


def test_image_job_sampler_change_reuses_the_fitted_model(image_run):
    # Setup
    root, _ = image_run
    params = {
        "conditional": True,
        "steps": 3,
        "batch_size": 16,
        "verbose": False,
        "block_out_channels": [16, 32],
        "sampler": "dpm_solver",
        "sampling_steps": 3,
    }

    # Run
    ref = generate_dataset(_job(root, generator={"name": "ddpm", "params": params}))

    # Assert
    lineage = open_dataset(ref, root=root).read_json("lineage.json")
    assert lineage["model"]["reused"] is True
    assert lineage["generator"]["sampling"]["scheduler"] == "DPMSolverMultistepScheduler"


def test_image_job_pixel_gate_quarantines_noise(tmp_path):
    # Setup: the default pixel tolerances hold a 3-step model's noise to the real statistics
    # (no holdout: the quality checks are skipped, as this test is about the pixel gate).
    job = _job(tmp_path, validation={}, source={"builtin": "digits", "holdout_fraction": 0.0})

    # Run
    with pytest.raises(ValidationFailedError) as info:
        generate_dataset(job)

    # Assert
    assert "gx.expect_column_mean_to_be_between:pixel_mean" in info.value.failed_checks
    assert DatasetStore(tmp_path).latest_version("digits-flow") is None


def test_image_job_unknown_condition_label_fails_before_fitting(tmp_path):
    # Run
    with pytest.raises(DataError, match=r"Condition label 12 is not a real label"):
        generate_dataset(_job(tmp_path, balanced_labels=False, conditions={"label": 12}))

    # Assert
    assert not (tmp_path / ".models").exists()


def test_image_job_from_a_synthpipe_image_dataset(image_run, tmp_path):
    # Setup: generated images as the source of another job.
    root, ref = image_run
    params = {"steps": 2, "batch_size": 8, "verbose": False, "latent_dim": 4, "base_channels": 8}

    # Run
    new_ref = generate_dataset(
        _job(
            root,
            dataset="digits-second",
            source={"dataset": ref, "holdout_fraction": 0.0},
            generator={"name": "vae", "params": params},
            balanced_labels=False,
            rows=5,
        )
    )

    # Assert
    lineage = open_dataset(new_ref, root=root).read_json("lineage.json")
    assert lineage["source"]["origin"] == f"dataset:{ref}"
    assert lineage["source"]["train_records"] == 30


def test_image_version_loads_with_hugging_face_datasets(image_run):
    # Setup
    datasets = pytest.importorskip("datasets")  # in the dev extra; optional for users
    root, ref = image_run
    version = open_dataset(ref, root=root)

    # Run
    loaded = datasets.load_dataset(
        "parquet", data_files=str(version.path / "data" / "*.parquet"), split="train"
    )
    folder = datasets.load_dataset("imagefolder", data_dir=str(version.path / "images"))

    # Assert
    assert len(loaded) == 30 and isinstance(loaded[0]["image"], Image.Image)
    assert loaded[0]["image"].size == (8, 8)
    assert len(folder["train"]) == 30 and isinstance(folder["train"][0]["image"], Image.Image)


def _prompted_job(root):
    """A tiny text-to-image job over two prompted labels, in three shards."""
    return parse_job(
        {
            "dataset": "digits-prompted",
            "source": {"builtin": "digits"},
            "generator": {
                "name": "t2i",
                "params": {
                    "vae_block_out_channels": [8, 16],
                    "block_out_channels": [16, 32],
                    "cross_attention_dim": 8,
                    "text_heads": 2,
                    "text_layers": 1,
                    "vae_steps": 3,
                    "steps": 3,
                    "batch_size": 16,
                    "sampling_steps": 2,
                    "guidance_scale": 2.5,
                    "verbose": False,
                },
            },
            "prompts": {"3": "a handwritten three", "7": "a digit {label}"},
            "rows": 21,
            "shard_rows": 8,
            "seed": 1,
            "root": str(root),
            "validation": _job(root).validation.model_dump(),
        }
    )


@pytest.fixture(scope="module")
def prompted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompted")
    return root, generate_dataset(_prompted_job(root))


@pytest.mark.slow  # a text-to-image fit, three shards and the validators: ~1-2 min
def test_prompted_job_publishes_a_prompt_and_guidance_per_image(prompted_run):
    # Setup
    root, ref = prompted_run
    version = open_dataset(ref, root=root)

    # Run
    table = pads.dataset(version.path / "data").to_table()
    rows = table.to_pylist()
    labels = label_column(table)
    images = [np.asarray(Image.open(io.BytesIO(r["image"]["bytes"]))) for r in rows]

    # Assert
    assert version.manifest.kind == "prompted_image" and version.manifest.rows == 21
    assert set(table.column_names) == {
        *("image", "label", "sample_id", "seed", "sample_index", "prompt", "guidance_scale")
    }
    assert label_names_of(table.schema) == DIGITS  # the ClassLabel keeps every real class
    assert all(image.shape == (8, 8) and image.dtype == np.uint8 for image in images)
    prompts = {"3": "a handwritten three", "7": "a digit 7"}
    assert [r["prompt"] for r in rows] == [prompts[label] for label in labels]
    assert sorted(labels) == ["3"] * 11 + ["7"] * 10  # balanced over the prompted labels
    assert {r["guidance_scale"] for r in rows} == {2.5}


@pytest.mark.slow  # a text-to-image fit, three shards and the validators: ~1-2 min
def test_prompted_job_records_prompts_in_lineage_checks_and_report(prompted_run):
    # Setup
    root, ref = prompted_run
    version = open_dataset(ref, root=root)

    # Run
    lineage = version.read_json("lineage.json")
    report = version.read_json("validation.json")
    checks = {c["name"]: c for c in report["checks"]}

    # Assert
    assert lineage["generator"]["prompts"] == {"a handwritten three": 11, "a digit 7": 10}
    assert lineage["generator"]["guidance_scale"] == 2.5
    assert lineage["job"]["prompts"]["labels"] == {
        "3": "a handwritten three",
        "7": "a digit {label}",
    }
    assert checks["gx.expect_column_values_to_be_between:prompt_count_diff"]["passed"]
    assert checks["gx.expect_column_distinct_values_to_contain_set:prompt"]["passed"]
    # CAS on the prompts' classes: the real-trained classifier is scored on 3s and 7s only.
    assert set(checks["image.cas_per_class"]["data"]["per_class"]) == {"3", "7"}
    assert (version.path / "report" / "plots" / "prompts.png").is_file()
    assert "a handwritten three" in (version.path / "report" / "report.html").read_text()


@pytest.mark.slow  # a text-to-image fit, three shards and the validators: ~1-2 min
def test_prompted_version_loads_with_hugging_face_datasets(prompted_run):
    # Setup
    datasets = pytest.importorskip("datasets")  # in the dev extra; optional for users
    root, ref = prompted_run
    version = open_dataset(ref, root=root)

    # Run
    loaded = datasets.load_dataset(
        "parquet", data_files=str(version.path / "data" / "*.parquet"), split="train"
    )
    folder = datasets.load_dataset("imagefolder", data_dir=str(version.path / "images"))

    # Assert
    assert isinstance(loaded[0]["image"], Image.Image) and loaded[0]["image"].size == (8, 8)
    assert loaded.features["prompt"].dtype == "string"
    assert loaded.features["guidance_scale"].dtype == "float64"
    assert loaded.features["label"].names == DIGITS
    assert set(folder["train"]["prompt"]) == {"a handwritten three", "a digit 7"}
