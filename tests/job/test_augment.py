"""Augment jobs and the pure augmentation steps: config errors, record selection, the plan of
synthetic records per class, provenance columns and the image Parquet schema."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ConfigError, DataError
from core.image_parts import image_records
from core.images import ImageData
from job import augment
from job.augment_config import AugmentConfig, load_augment_job, parse_augment_job
from modalities.image import ImageModality, image_frame
from modalities.provenance import with_provenance
from modalities.real_data import load_real
from modalities.table import TableModality, class_matched

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


def _job(**augment_overrides) -> dict:
    return {
        "dataset": "bc-augment",
        "source": {"builtin": "breast_cancer", "holdout_fraction": 0.3},
        "generator": {"name": "gaussian_copula"},
        "augment": {"label": "target", "mode": "balance", **augment_overrides},
    }


def _labels(counts: dict[str, int]) -> pd.Series:
    return pd.Series([name for name, n in counts.items() for _ in range(n)], dtype=object)


@pytest.mark.parametrize("path", sorted(JOBS_DIR.glob("*_augment.yaml")), ids=lambda p: p.name)
def test_load_augment_job_every_example_is_valid(path):
    # Run
    job = load_augment_job(path)

    # Assert
    assert job.generation_job(rows=10).holdout_fraction > 0


def test_generation_job_defaults_a_holdout_and_takes_the_planned_rows():
    # Setup
    raw = _job()
    raw["source"] = {"builtin": "breast_cancer"}

    # Run
    generation = parse_augment_job(raw).generation_job(rows=42)

    # Assert
    assert generation.rows == 42 and generation.holdout_fraction == pytest.approx(0.2)
    assert generation.generator.name == "gaussian_copula"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mode": "multiply"}, "mode: multiply needs factor"),
        ({"mode": "multiply", "factor": 0}, "augment.factor: Input should be greater than 0"),
        ({"factor": 2.0}, "factor applies to mode: multiply"),
        ({"mode": "multiply", "factor": 1, "target_count": 5}, "target_count applies to mode"),
        ({"downsample": {"malignant": 1.5}}, "downsample fractions must be in (0, 1]"),
        ({"reduce_per_class": 0}, "augment.reduce_per_class: Input should be greater than"),
        ({"labl": "target"}, "unknown key 'labl'; allowed keys: label, mode, target_count"),
    ],
)
def test_parse_augment_job_bad_augment_settings_name_the_key(overrides, message):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_augment_job(_job(**overrides))


def test_parse_augment_job_refuses_a_zero_holdout():
    # Setup
    raw = _job()
    raw["source"]["holdout_fraction"] = 0

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("source.holdout_fraction is 0")):
        parse_augment_job(raw)


@pytest.mark.parametrize(
    ("params", "augment_settings", "message"),
    [
        ({"conditional": False}, {}, "set generator.params.conditional: true"),
        ({"conditional": True}, {"label": "digit"}, "image records are labelled 'label'"),
    ],
)
def test_parse_augment_job_image_generator_needs_labels(params, augment_settings, message):
    # Setup
    raw = {
        "dataset": "digits-augment",
        "source": {"builtin": "digits"},
        "generator": {"name": "vae", "params": params},
        "augment": {"mode": "multiply", "factor": 1, **augment_settings},
    }

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_augment_job(raw)


def test_parse_augment_job_native_table_generator_must_condition_on_the_label():
    # Setup
    raw = _job()
    raw["generator"] = {"name": "tabddpm", "params": {"conditional_columns": ["mean radius"]}}

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("conditional_columns: [target]")):
        parse_augment_job(raw)
    raw["generator"]["params"]["conditional_columns"] = ["target"]
    assert parse_augment_job(raw).generator.name == "tabddpm"


def test_parse_augment_job_checks_generation_settings():
    # Setup
    raw = _job()
    raw["validation"] = {"quality_minimum": 0.5}

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("unknown key 'quality_minimum'")):
        parse_augment_job(raw)


def test_plan_synthetic_balance_tops_up_to_the_largest_or_target():
    # Setup
    counts = {"a": 10, "b": 3}
    config = AugmentConfig(mode="balance")

    # Run
    default = augment.plan_synthetic(counts, config)
    targeted = augment.plan_synthetic(counts, AugmentConfig(mode="balance", target_count=12))

    # Assert
    assert default == {"a": 0, "b": 7}
    assert targeted == {"a": 2, "b": 9}
    assert {k: counts[k] + targeted[k] for k in counts} == {"a": 12, "b": 12}


def test_plan_synthetic_multiply_adds_factor_times_each_class():
    # Run
    plan = augment.plan_synthetic({"a": 10, "b": 3}, AugmentConfig(mode="multiply", factor=2))

    # Assert
    assert plan == {"a": 20, "b": 6}
    assert augment.planned_labels(plan) == ["a"] * 20 + ["b"] * 6


def test_plan_synthetic_with_nothing_to_add_is_an_error():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("raise augment.target_count")):
        augment.plan_synthetic({"a": 5, "b": 5}, AugmentConfig(mode="balance", target_count=4))


def test_select_training_reduces_and_downsamples_per_class_seeded():
    # Setup
    labels = _labels({"a": 40, "b": 30, "c": 8})
    config = AugmentConfig(mode="balance", reduce_per_class=10, downsample={"b": 0.1})

    # Run
    kept = augment.select_training(labels, config, seed=3)
    again = augment.select_training(labels, config, seed=3)
    other = augment.select_training(labels, config, seed=4)

    # Assert
    assert augment.class_counts(labels.iloc[kept]) == {"a": 10, "b": 3, "c": 8}
    assert np.array_equal(kept, again) and not np.array_equal(kept, other)
    assert np.all(np.diff(kept) > 0)


def test_select_training_unknown_downsample_class_lists_the_classes():
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("absent from the training records; classes")):
        augment.select_training(
            _labels({"a": 3, "b": 3}), AugmentConfig(mode="balance", downsample={"z": 0.5}), 0
        )


def test_class_labels_missing_label_column_names_the_columns(wine):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("augment.label 'class' is not a column")):
        TableModality().class_labels(wine, "class")


def test_restricted_training_never_holds_holdout_records():
    # Setup
    job = parse_augment_job(_job()).generation_job(rows=1)
    loaded = load_real(job, ".")
    labels = augment.class_labels(loaded, "target")
    kept = augment.select_training(labels, AugmentConfig(mode="balance", reduce_per_class=50), 0)

    # Run
    real = augment.restrict_training(loaded, kept)
    indices = augment.source_indices(loaded)[kept]

    # Assert
    assert not set(indices) & set(loaded.holdout_indices)
    assert len(real.train) == len(kept) == 100 and real.holdout is loaded.holdout
    assert real.train_fingerprint != loaded.train_fingerprint
    assert list(real.train.columns) == list(loaded.train.columns)


def test_with_provenance_marks_real_and_synthetic_records():
    # Setup
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "target": ["a", "b", "a"]})

    # Run
    real = with_provenance(frame, real_index=[4, 9, 12], generator=None, seed=None, first_index=0)
    synthetic = with_provenance(frame, real_index=None, generator="ctgan", seed=77, first_index=3)
    table = pa.Table.from_pandas(
        pd.concat([real, synthetic]),
        schema=TableModality().augment_schema(frame),
        preserve_index=False,
    )

    # Assert
    rows = table.to_pylist()
    assert [r["is_synthetic"] for r in rows] == [False] * 3 + [True] * 3
    assert [r["real_index"] for r in rows] == [4, 9, 12, None, None, None]
    assert [r["generator"] for r in rows] == [None] * 3 + ["ctgan"] * 3
    assert [r["seed"] for r in rows] == [None] * 3 + [77] * 3
    assert [r["sample_index"] for r in rows] == list(range(6))


def test_with_provenance_refuses_a_source_column_it_would_overwrite():
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("column(s) ['is_synthetic']")):
        with_provenance(
            pd.DataFrame({"is_synthetic": [1]}),
            real_index=[0],
            generator=None,
            seed=None,
            first_index=0,
        )


def test_table_conditions_keep_the_label_dtype():
    # Setup
    train = pd.DataFrame({"y": [0, 1, 1], "x": [0.1, 0.2, 0.3]})

    # Run
    conditions = TableModality().class_conditions(["1", "0", "1"], train, "y")

    # Assert
    assert conditions["y"].tolist() == [1, 0, 1] and conditions["y"].dtype == train["y"].dtype


def test_class_matched_draws_real_rows_in_the_planned_mix(wine):
    # Run
    matched = class_matched(wine, "target", {"class_0": 5, "class_2": 7}, seed=0)

    # Assert
    assert matched["target"].value_counts().to_dict() == {"class_2": 7, "class_0": 5}


def test_image_records_with_provenance_read_back_through_datasets(tmp_path):
    # Setup
    rng = np.random.default_rng(0)
    data = ImageData(rng.random((4, 1, 8, 8), dtype=np.float32), np.array([0, 1, 1, 0]), ["0", "1"])
    records = image_records(image_frame(data), label_names=data.label_names, seed=0, first_index=0)
    records = with_provenance(
        records, real_index=[3, 5, 6, 8], generator=None, seed=None, first_index=0
    )
    pq.write_table(
        pa.Table.from_pandas(
            records, schema=ImageModality().augment_schema(data), preserve_index=False
        ),
        tmp_path / "part-00000.parquet",
    )

    # Run
    import datasets

    loaded = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "*.parquet"), cache_dir=str(tmp_path / "cache")
    )["train"]

    # Assert
    assert loaded.features["image"].__class__.__name__ == "Image"
    assert loaded["is_synthetic"] == [False] * 4 and loaded["real_index"] == [3, 5, 6, 8]
    assert loaded.features["label"].names == ["0", "1"]
    assert loaded.features["label"].int2str(loaded["label"]) == ["0", "1", "1", "0"]
    pixels = np.asarray(loaded[1]["image"], dtype=np.float32) / 255
    assert np.allclose(pixels, data.images[1, 0], atol=1 / 255)
