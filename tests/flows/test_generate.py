"""The generation flow end to end on Prefect (temporary server), with a real generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.errors import (
    ConfigError,
    DataError,
    QuarantinedVersionError,
    ValidationFailedError,
)
from datastore import DatasetStore, open_dataset
from flows.generate import generate_dataset
from job.config import parse_job
from pipeline.run import run_job
from sources.tables import fingerprint, load_builtin

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _job(root: Path, **overrides):
    job = {
        "dataset": "wine-flow",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 300,
        "shard_rows": 128,
        "seed": 3,
        "root": str(root),
    }
    job.update(overrides)
    return parse_job(job)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    ref = generate_dataset(_job(root))
    return root, ref


def test_generate_dataset_publishes_a_readable_version(first_run):
    # Setup
    root, ref = first_run

    # Run
    version = open_dataset("wine-flow@latest", root=root)
    plain = pd.read_parquet(version.path / "data")  # no Synthpipe needed to read the data

    # Assert
    assert ref == "wine-flow@1" and version.version == 1
    assert len(plain) == 300 and list(plain.columns) == list(load_builtin("wine").columns)
    assert [f.rows for f in version.manifest.parts] == [128, 128, 44]
    assert version.manifest.status == "published"
    version.verify()


def test_generate_dataset_records_lineage_and_report(first_run):
    # Setup
    root, _ = first_run
    version = open_dataset("wine-flow@1", root=root)

    # Run
    lineage = version.read_json("lineage.json")
    report = json.loads((version.path / "validation.json").read_text())

    # Assert
    assert lineage["source"]["fingerprint"] == fingerprint(load_builtin("wine"))
    assert lineage["generator"]["name"] == "gaussian_copula"
    assert lineage["seed"] == 3 and lineage["job"]["rows"] == 300
    assert re.fullmatch(r"[0-9a-f-]{36}", lineage["prefect"]["flow_run_id"])
    assert lineage["packages"]["sdv"].startswith("2.")
    assert [s["rows"] for s in lineage["shards"]] == [128, 128, 44]
    assert {c["name"] for c in report["checks"]} >= {"quality.overall", "expectations.success"}
    assert (version.path / "model" / "generator.json").is_file()
    assert version.manifest.lineage == lineage
    assert lineage["source"]["holdout_fraction"] == pytest.approx(0.2)
    assert len(lineage["source"]["holdout_indices"]) == 36  # 20% of wine's 178 rows
    assert lineage["source"]["train_records"] == 142
    assert {c["category"] for c in report["checks"]} >= {"detection", "privacy"}


def test_generate_dataset_report_names_parts_as_the_manifest_does(first_run):
    # Setup
    root, _ = first_run
    version = open_dataset("wine-flow@1", root=root)

    # Run
    report = version.read_json("validation.json")
    total = next(c for c in report["checks"] if c["name"] == "rows.total")

    # Assert: not the staging directory's absolute paths, which are gone after publishing
    assert total["data"]["part_rows"] == {p.path: p.rows for p in version.manifest.parts}


def test_generate_dataset_stores_the_html_report_in_the_version(first_run):
    # Setup
    root, _ = first_run
    version = open_dataset("wine-flow@1", root=root)

    # Run
    files = {f.path: f for f in version.manifest.files}
    html = (version.path / "report" / "report.html").read_text()

    # Assert
    for name in ("columns", "associations", "dcr"):
        assert files[f"report/plots/{name}.png"].bytes > 1000
        assert f"href='plots/{name}.png'" in html
    assert "report/report.html" in files
    assert "privacy.dcr_share" in html


def test_generate_dataset_gives_the_pure_pipelines_rows_and_figures(first_run, tmp_path):
    # Setup
    root, ref = first_run

    # Run: the same job without Prefect, shards one after another, in another store
    pure = run_job(_job(tmp_path))

    # Assert
    flowed = open_dataset(ref, root=root)
    assert [p.sha256 for p in pure.manifest.parts] == [p.sha256 for p in flowed.manifest.parts]
    figures = [
        [(c["name"], c["value"]) for c in version.read_json("validation.json")["checks"]]
        for version in (pure, flowed)
    ]
    assert figures[0] == figures[1]
    assert {f.path for f in pure.manifest.files} == {f.path for f in flowed.manifest.files}


def test_generate_dataset_second_run_reuses_model_and_repeats_rows(first_run):
    # Setup
    root, _ = first_run

    # Run
    ref = generate_dataset(_job(root))

    # Assert
    second, first = open_dataset(ref, root=root), open_dataset("wine-flow@1", root=root)
    assert ref == "wine-flow@2"
    assert second.read_json("lineage.json")["model"]["reused"] is True
    assert first.read_json("lineage.json")["model"]["reused"] is False
    pd.testing.assert_frame_equal(second.to_pandas(), first.to_pandas())
    assert DatasetStore(root).latest_version("wine-flow") == 2


def test_generate_dataset_conditions_fix_the_column(tmp_path):
    # Run
    ref = generate_dataset(_job(tmp_path, conditions={"target": "class_1"}, rows=60))

    # Assert
    frame = open_dataset(ref, root=tmp_path).to_pandas()
    assert len(frame) == 60 and (frame["target"] == "class_1").all()


def test_generate_dataset_regenerates_key_columns_unique_across_shards(tmp_path):
    # Setup: wine with a unique string key and an integer key, read from a CSV
    wine = load_builtin("wine")
    order = np.random.default_rng(0).permutation(len(wine))
    ids = pd.DataFrame({"customer": [f"cust-{i:06d}" for i in order], "row_id": order + 500})
    real = pd.concat([ids, wine], axis=1)
    real.to_csv(tmp_path / "keyed.csv", index=False)
    job = _job(tmp_path, source={"path": str(tmp_path / "keyed.csv")})

    # Run: 300 rows in three shards sampled as separate tasks
    version = open_dataset(generate_dataset(job), root=tmp_path)

    # Assert
    frame = version.to_pandas()
    assert list(frame.columns) == list(real.columns) and len(frame) == 300
    assert frame["customer"].is_unique and frame["row_id"].is_unique
    assert frame["customer"].str.fullmatch(r"cust-\d{6}").all()
    held = version.read_json("lineage.json")["source"]["holdout_indices"]
    assert not set(frame["customer"]) & set(real.drop(index=held)["customer"])  # training keys
    report = version.read_json("validation.json")
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["detection.c2st_auc"]["passed"]
    assert "customer" not in checks["columns.summary"]["data"]["columns"]


def test_generate_dataset_failed_gate_quarantines_and_raises(tmp_path):
    # Setup
    job = _job(tmp_path, validation={"quality_min": 0.999})

    # Run
    with pytest.raises(ValidationFailedError, match=r"failed its validation gates") as info:
        generate_dataset(job)

    # Assert
    store = DatasetStore(tmp_path)
    assert info.value.failed_checks == ["quality.overall"]
    assert [(v.version, v.status) for v in store.list_versions("wine-flow")] == [(1, "quarantined")]
    assert store.latest_version("wine-flow") is None
    with pytest.raises(QuarantinedVersionError):
        store.open("wine-flow@1")


def test_generate_dataset_failed_privacy_gate_quarantines_with_its_report(tmp_path):
    # Setup: a DCR share of 0 can never be met, so the privacy gate fails (utility not gated).
    gates = {"dcr_share_max": 0.0, "utility_ratio_min": 0.0}
    job = _job(tmp_path, target="target", validation=gates)

    # Run
    with pytest.raises(ValidationFailedError, match=re.escape("['privacy.dcr_share']")) as info:
        generate_dataset(job)

    # Assert
    store = DatasetStore(tmp_path)
    assert info.value.failed_checks == ["privacy.dcr_share"]
    assert store.latest_version("wine-flow") is None
    version = store.open("wine-flow@1", allow_quarantined=True)
    report = json.loads((version.path / "validation.json").read_text())
    utility = next(c for c in report["checks"] if c["name"] == "utility.tstr_ratio")
    assert utility["data"]["target"] == "target" and utility["data"]["holdout_rows"] == 36
    assert (version.path / "report" / "report.html").is_file()


def test_generate_dataset_unknown_target_fails_before_fitting(tmp_path):
    # Run
    with pytest.raises(ConfigError, match=re.escape("target 'label' is not a column")):
        generate_dataset(_job(tmp_path, target="label"))

    # Assert
    assert not (tmp_path / ".models").exists()


def test_generate_dataset_missing_source_publishes_nothing(tmp_path):
    # Setup
    job = _job(tmp_path, source={"path": str(tmp_path / "missing.csv")})

    # Run
    with pytest.raises(DataError, match="does not exist"):
        generate_dataset(job)

    # Assert
    assert DatasetStore(tmp_path).list_datasets() == []
    assert not (tmp_path / ".models").exists()


def test_generate_dataset_unknown_condition_column_fails_before_fitting(tmp_path):
    # Run
    with pytest.raises(DataError, match=re.escape("Condition column(s) ['colour']")):
        generate_dataset(_job(tmp_path, conditions={"colour": "red"}))

    # Assert
    assert not (tmp_path / ".models").exists()
    assert DatasetStore(tmp_path).list_datasets() == []


def test_generate_dataset_transient_write_error_is_retried_without_duplicates(
    tmp_path, monkeypatch
):
    # Setup: the disk refuses the second part once (a transient I/O error).
    real_write = pq.write_table
    calls = {"n": 0}

    def flaky_write(table, where, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("No space left on device (simulated)")
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", flaky_write)

    # Run
    ref = generate_dataset(_job(tmp_path))

    # Assert
    version = open_dataset(ref, root=tmp_path)
    assert calls["n"] == 4  # 3 parts + 1 retry
    assert sorted(p.name for p in (version.path / "data").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert len(version.to_pandas()) == 300


def test_generate_dataset_persistent_failure_leaves_no_half_version(tmp_path, monkeypatch):
    # Setup: the third part can never be written.
    real_write = pq.write_table
    calls = {"n": 0}

    def failing_write(table, where, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise OSError("Input/output error (simulated)")
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing_write)

    # Run
    with pytest.raises(OSError, match="simulated"):
        generate_dataset(_job(tmp_path))

    # Assert
    store = DatasetStore(tmp_path)
    assert store.list_datasets() == []
    assert list((tmp_path / ".staging").iterdir()) == []
