"""A relational job end to end: one version holding every table, read back per table; a source
with a broken foreign key or a cycle fails before fitting and publishes nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from datastore import DatasetStore, open_dataset, read_dataset
from job.config import load_job, parse_job
from pipeline.run import run_job

DEMO = Path(__file__).resolve().parents[2] / "jobs" / "relational_demo.yaml"


def test_the_demo_job_publishes_every_table_in_one_version(tmp_path):
    # Setup
    job = load_job(DEMO).model_copy(update={"root": str(tmp_path)})

    # Run
    version = run_job(job)

    # Assert
    opened = open_dataset(version.ref, tmp_path)
    assert opened.tables == ["sessions", "users"]
    assert {e.path for e in opened.manifest.parts} == {
        "data/sessions/part-00000.parquet",
        "data/users/part-00000.parquet",
    }
    users = read_dataset(version.ref, tmp_path, table="users")
    sessions = read_dataset(version.ref, tmp_path, table="sessions")
    assert sessions["user_id"].isin(users["user_id"]).all()
    report = opened.read_json("validation.json")
    assert {c["name"] for c in report["checks"]} >= {
        "relational.referential_integrity",
        "relational.quality",
        "relational.child_count_shape",
    }
    with pytest.raises(ConfigError, match="several tables"):
        opened.to_pandas()


def folder_job(tmp_path: Path, tables: dict[str, pd.DataFrame], **source) -> dict:
    folder = tmp_path / "tables"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {
        "dataset": "bad",
        "source": {"path": str(folder), "holdout_fraction": 0, **source},
        "generator": {"name": "hma"},
        "rows": 10,
        "root": str(tmp_path / "root"),
    }


PARENT = pd.DataFrame({"user_id": [1, 2, 3], "age": [30, 40, 50]})


def test_a_foreign_key_to_a_missing_parent_fails_before_fitting(tmp_path):
    # Setup: session 12 points at user 9, who does not exist
    child = pd.DataFrame({"session_id": [10, 11, 12], "user_id": [1, 2, 9], "os": list("aab")})
    job = parse_job(folder_job(tmp_path, {"users": PARENT, "sessions": child}))

    # Run / Assert
    with pytest.raises(DataError, match=r"sessions\.user_id -> users\.user_id: 1 row"):
        run_job(job)
    assert DatasetStore(tmp_path / "root").list_datasets() == []


def test_a_cycle_of_relationships_fails_before_fitting(tmp_path):
    # Setup
    users = PARENT.assign(session_id=[10, 11, 12])
    child = pd.DataFrame({"session_id": [10, 11, 12], "user_id": [1, 2, 3]})
    cycle = [
        {"parent": "users", "parent_key": "user_id", "child": "sessions", "child_key": "user_id"},
        {
            "parent": "sessions",
            "parent_key": "session_id",
            "child": "users",
            "child_key": "session_id",
        },
    ]
    keys = {"users": "user_id", "sessions": "session_id"}
    raw = folder_job(
        tmp_path, {"users": users, "sessions": child}, primary_keys=keys, relationships=cycle
    )

    # Run / Assert
    with pytest.raises(DataError, match="cycle"):
        run_job(parse_job(raw))
    assert DatasetStore(tmp_path / "root").list_datasets() == []
