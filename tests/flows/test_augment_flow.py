"""The augment flow end to end on Prefect: real + synthetic records, provenance, uplift, lineage."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from datastore import open_dataset
from datastore.layout import VALIDATION_JSON
from flows.augment import augment_dataset
from job.augment_config import parse_augment_job
from pipeline.augment import UPLIFT_JSON
from validators import ValidationReport

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def _wine_job(root):
    return parse_augment_job(
        {
            "dataset": "wine-augmented",
            "source": {"builtin": "wine", "holdout_fraction": 0.3},
            "generator": {"name": "gaussian_copula"},
            "seed": 2,
            "shard_rows": 16,
            "augment": {
                "label": "target",
                "mode": "balance",
                "downsample": {"class_2": 0.25},
                "uplift": {"seeds": 2},
            },
            "validation": {"quality_min": 0.0, "column_shapes_min": 0.0},
            "root": str(root),
        }
    )


@pytest.fixture(scope="module")
def wine_version(tmp_path_factory):
    root = tmp_path_factory.mktemp("augment-store")
    ref = augment_dataset(_wine_job(root))
    return open_dataset(ref, root=root)


def test_augment_without_prefect_publishes_the_flows_records(wine_version, tmp_path):
    from pipeline.run import run_augment_job

    # Run: the same job in this process (`synth augment --mode local`).
    local = run_augment_job(_wine_job(tmp_path))

    # Assert: the same records, report and augment lineage; only the flow records its run.
    flow_lineage, local_lineage = (
        wine_version.read_json("lineage.json"),
        local.read_json("lineage.json"),
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(local.path / "data"), pd.read_parquet(wine_version.path / "data")
    )
    assert local.manifest.rows == wine_version.manifest.rows
    for lineage in (local_lineage, flow_lineage):
        del lineage["augment"]["uplift"]["created_at"]  # when each run measured it
    assert local_lineage["augment"] == flow_lineage["augment"]
    assert local_lineage["job"] == {**flow_lineage["job"], "root": str(tmp_path)}
    assert "prefect" in flow_lineage and "prefect" not in local_lineage
    flow_checks = json.loads((wine_version.path / "validation.json").read_text())["checks"]
    local_checks = json.loads((local.path / "validation.json").read_text())["checks"]
    assert [(c["name"], c["passed"]) for c in local_checks] == [
        (c["name"], c["passed"]) for c in flow_checks
    ]


def test_augment_flow_balances_classes_with_flagged_synthetic_records(wine_version):
    # Run
    frame = pd.read_parquet(wine_version.path / "data")
    lineage = wine_version.read_json("lineage.json")

    # Assert
    counts = frame.groupby(["target", "is_synthetic"]).size().unstack(fill_value=0)
    real_counts = lineage["augment"]["real_class_counts"]
    assert counts[False].to_dict() == real_counts
    assert counts.sum(axis=1).nunique() == 1  # every class topped up to the largest
    assert counts.sum(axis=1).iloc[0] == max(real_counts.values())
    assert counts[True].to_dict() == lineage["augment"]["synthetic_per_class"]
    assert len(wine_version.manifest.parts) > 2  # the real part + several synthetic shards
    assert frame["sample_index"].tolist() == list(range(len(frame)))


def test_augment_flow_provenance_never_points_into_the_holdout(wine_version):
    # Setup
    frame = pd.read_parquet(wine_version.path / "data")
    lineage = wine_version.read_json("lineage.json")
    real, synthetic = frame[~frame["is_synthetic"]], frame[frame["is_synthetic"]]

    # Assert
    holdout = set(lineage["source"]["holdout_indices"])
    assert holdout and not holdout & set(real["real_index"])
    assert sorted(real["real_index"]) == lineage["augment"]["kept_real_indices"]
    assert real["generator"].isna().all() and real["seed"].isna().all()
    assert synthetic["real_index"].isna().all()
    assert set(synthetic["generator"]) == {"gaussian_copula"}
    assert set(synthetic["seed"]) == {s["seed"] for s in lineage["shards"]}
    # The holdout was never fitted on: the model was trained on the kept records only.
    assert lineage["source"]["train_records"] == len(real)


def test_augment_flow_records_the_uplift_in_report_and_lineage(wine_version):
    # Run
    uplift = json.loads((wine_version.path / UPLIFT_JSON).read_text())
    report = json.loads((wine_version.path / "validation.json").read_text())
    lineage = wine_version.read_json("lineage.json")

    # Assert
    assert uplift["holdout_rows"] == len(lineage["source"]["holdout_indices"])
    assert set(uplift["per_class"]) == {"class_0", "class_1", "class_2"}
    assert lineage["augment"]["uplift"]["metrics"] == uplift["metrics"]
    names = {check["name"] for check in report["checks"]}
    assert {"uplift.accuracy", "uplift.macro_f1", "uplift.balanced_accuracy"} <= names
    assert lineage["job"]["augment"]["mode"] == "balance"


def test_augment_flow_images_keep_the_image_schema_plus_provenance(tmp_path):
    # Setup
    job = parse_augment_job(
        {
            "dataset": "digits-augmented",
            "source": {"builtin": "digits"},
            "generator": {
                "name": "vae",
                "params": {"conditional": True, "steps": 3, "batch_size": 16, "verbose": False},
            },
            "augment": {
                "mode": "multiply",
                "factor": 1,
                "reduce_per_class": 3,
                "uplift": {"seeds": 2},
            },
            # A 3-step VAE is far from real digits: this test is about the output's shape and
            # provenance, so the quality gates are opened (they are still computed).
            "validation": {
                "expectations_must_pass": False,
                "fd_floor_ratio_max": 1e6,
                "precision_ratio_min": 0,
                "recall_ratio_min": 0,
                "cas_ratio_min": 0,
                "cas_class_ratio_min": 0,
                "extractor_steps": 50,
            },
            "root": str(tmp_path),
        }
    )

    # Run
    version = open_dataset(augment_dataset(job), root=tmp_path)

    # Assert
    frame = pd.read_parquet(version.path / "data")
    report = ValidationReport.model_validate(version.read_json(VALIDATION_JSON))
    assert report.check("image.fd_cnn").value is not None  # quality measured on the synthetic
    assert len(frame) == 60 and frame["is_synthetic"].sum() == 30
    assert frame.groupby("label")["is_synthetic"].sum().tolist() == [3] * 10
    assert [c.name for c in version.manifest.schema_] == [
        "image",
        "label",
        "sample_id",
        "seed",
        "sample_index",
        "is_synthetic",
        "real_index",
        "generator",
        "parent_index",
    ]
    assert (version.path / "grid.png").is_file()
