"""The pure pipeline: a whole tiny job without Prefect, and the publish path every publisher
shares."""

from __future__ import annotations

import subprocess
import sys

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from core.errors import ValidationFailedError
from datastore import DatasetStore
from job.config import parse_job
from pipeline.run import run_job
from sources.tables import load_builtin
from synthpipe.cli import app


def _job(root, **overrides):
    job = {
        "dataset": "wine-pure",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 60,
        "shard_rows": 25,
        "seed": 3,
        "root": str(root),
    }
    return parse_job(job | overrides)


def test_pipeline_imports_no_prefect():
    # Run: a fresh interpreter, since this test session may have loaded Prefect elsewhere.
    code = (
        "import sys, pipeline.run, pipeline.augment, pipeline.publish, pipeline.report; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'flows')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    # Assert
    assert out.stdout.strip() == "[]"


def test_run_job_publishes_a_whole_job_without_prefect(tmp_path):
    # Run
    version = run_job(_job(tmp_path))

    # Assert: the version the flow would publish, less the flow run's identity
    files = {f.path for f in version.manifest.files}
    lineage = version.read_json("lineage.json")
    assert version.ref == "wine-pure@1" and version.manifest.status == "published"
    assert [p.rows for p in version.manifest.parts] == [25, 25, 10]
    assert {"model/generator.json", "report/report.html", "report/plots/columns.png"} <= files
    assert [s["rows"] for s in lineage["shards"]] == [25, 25, 10]
    assert set(lineage["timings_s"]) == {"load", "fit", "sample", "validate"}
    assert "prefect" not in lineage
    assert lineage["privacy"] == "no formal privacy guarantee"
    assert version.read_json("validation.json")["privacy"] == "no formal privacy guarantee"
    assert list(version.to_pandas().columns) == list(load_builtin("wine").columns)


def test_validate_publish_and_run_job_quarantine_through_one_publish_path(tmp_path, monkeypatch):
    # Setup: an object-store root (the report must be copied in, not written to a local dir),
    # the model cache on local disk, and gates no table can meet.
    root = f"memory://publish-{tmp_path.name}"
    monkeypatch.setenv("SYNTHPIPE_MODEL_CACHE", str(tmp_path / "models"))
    wine = load_builtin("wine")
    wine.to_csv(tmp_path / "real.csv", index=False)
    wine.to_parquet(tmp_path / "synthetic.parquet")
    (tmp_path / "gates.yaml").write_text("quality_min: 0.9999\n")
    args = ["validate", "--real", str(tmp_path / "real.csv")]
    args += ["--synthetic", str(tmp_path / "synthetic.parquet")]
    args += ["--thresholds", str(tmp_path / "gates.yaml"), "--publish", "wine-checked"]

    # Run
    validated = CliRunner().invoke(app, [*args, "--root", root])
    with pytest.raises(ValidationFailedError):
        run_job(_job(root, validation={"quality_min": 0.9999}))

    # Assert: both versions quarantined, with the same report files and manifest fields
    assert validated.exit_code == 1, validated.output
    assert "Stored wine-checked@1 (quarantined)" in validated.output
    store = DatasetStore(root)
    stored = store.open("wine-checked@1", allow_quarantined=True).manifest
    generated = store.open("wine-pure@1", allow_quarantined=True).manifest
    for manifest in (stored, generated):
        assert manifest.status == "quarantined" and manifest.kind == "table"
        assert "quality.overall" in manifest.validation.failed_checks
        assert store.latest_version(manifest.dataset) is None
    reports = [
        {f.path for f in m.files if not f.path.startswith(("data/", "model/"))}
        for m in (stored, generated)
    ]
    assert reports[0] == reports[1]
    assert {"report/report.html", "validation.json", "validation.md"} <= reports[0]
    fsspec.filesystem("memory").rm(root, recursive=True)


def test_a_version_keeps_the_source_column_types(tmp_path):
    # Setup: integers, a pandas category, booleans, nullable integers and dates.
    rng = np.random.default_rng(0)
    n = 300
    real = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "score": rng.normal(size=n),
            "plan": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "member": rng.random(n) > 0.5,
            "visits": pd.array(np.where(rng.random(n) > 0.8, None, rng.integers(0, 9, n)), "Int64"),
            "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        }
    )
    real.to_parquet(tmp_path / "real.parquet")
    job = _job(tmp_path, source={"path": str(tmp_path / "real.parquet")}, rows=80)

    # Run
    try:
        version = run_job(job)
    except ValidationFailedError as failed:  # the types are what is tested, not the gates
        version = DatasetStore(tmp_path).open(failed.version, allow_quarantined=True)
    synthetic = version.to_pandas()

    # Assert
    source = pq.read_schema(tmp_path / "real.parquet").remove_metadata()
    assert pq.read_schema(version.verified_part_paths()[0]).remove_metadata() == source
    assert synthetic.dtypes.to_dict() == real.dtypes.to_dict()
    assert set(synthetic["plan"].dropna()) <= {"a", "b", "c"}
    assert synthetic["plan"].notna().all()
