"""The constrained example job (`jobs/constraints_demo.yaml`), tiny: it publishes, and its report
gates on the constraints (0 violating rows) beside a GX expectation per constraint."""

from __future__ import annotations

from pathlib import Path

from core.constraints import violation_counts
from job.config import load_job
from pipeline.run import run_job

DEMO = Path(__file__).resolve().parents[2] / "jobs" / "constraints_demo.yaml"


def test_constraints_demo_publishes_with_no_violating_row(tmp_path):
    # Setup: the demo job, fewer rows in two shards
    job = load_job(DEMO).model_copy(update={"rows": 80, "shard_rows": 40, "root": str(tmp_path)})

    # Run
    version = run_job(job)

    # Assert
    frame = version.to_pandas()
    report = version.read_json("validation.json")
    checks = {c["name"]: c for c in report["checks"]}
    assert version.manifest.status == "published" and len(frame) == 80
    assert not violation_counts(frame, job.constraints).any()
    assert checks["constraints.violations"]["value"] == 0
    assert checks["constraints.violations"]["gate"] and checks["constraints.violations"]["passed"]
    assert "gx.expect_column_pair_values_a_to_be_greater_than_b:s1,s2 (constraint)" in checks
    assert "`constraints.violations`" in version.read_text("validation.md")
