"""`synth augment`: configuration errors stop before any work, naming the key and the fix;
where it runs (`--mode`), and a whole local run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from datastore import open_dataset
from flows.launch import Mode, plan
from job.augment_config import load_augment_job
from pipeline.augment import UPLIFT_MD
from synthpipe.cli import app

runner = CliRunner()
JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


def test_cli_augment_bad_factor_exits_2_naming_the_key(tmp_path):
    # Setup
    job = {
        "dataset": "wine-augment",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "augment": {"label": "target", "mode": "multiply", "factor": -1},
        "root": str(tmp_path),
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))

    # Run
    result = runner.invoke(app, ["augment", str(path)])

    # Assert
    assert result.exit_code == 2
    assert "augment.factor: Input should be greater than 0" in result.output
    assert not (tmp_path / "wine-augment").exists()


def test_cli_augment_generation_job_asks_for_the_augment_section(tmp_path):
    # Setup
    path = tmp_path / "job.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "wine",
                "source": {"builtin": "wine"},
                "generator": {"name": "gaussian_copula"},
                "rows": 10,
            }
        )
    )

    # Run
    result = runner.invoke(app, ["augment", str(path)])

    # Assert
    assert result.exit_code == 2
    assert "augment: Field required" in result.output
    assert "unknown key 'rows'" in result.output


def test_cli_run_on_an_augment_job_says_to_use_synth_augment():
    # Setup
    path = JOBS_DIR / "breast_cancer_augment.yaml"

    # Run
    result = runner.invoke(app, ["run", str(path)])

    # Assert
    assert result.exit_code == 2
    assert "unknown key 'augment'" in result.output
    assert f"run it with `synth augment {path}`" in result.output


def test_cli_augment_on_a_generation_job_says_to_use_synth_run():
    # Setup
    path = JOBS_DIR / "demo.yaml"

    # Run
    result = runner.invoke(app, ["augment", str(path)])

    # Assert
    assert result.exit_code == 2
    assert f"run it with `synth run {path}`" in result.output


def _augment_job(tmp_path: Path) -> Path:
    job = {
        "dataset": "wine-augment",
        "source": {"builtin": "wine", "holdout_fraction": 0.3},
        "generator": {"name": "gaussian_copula"},
        "seed": 1,
        "shard_rows": 20,
        "augment": {"label": "target", "mode": "balance", "uplift": {"seeds": 2}},
        "validation": {"quality_min": 0.0, "column_shapes_min": 0.0},
        "root": str(tmp_path / "store"),
    }
    path = tmp_path / "augment.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.fixture
def no_server(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("SYNTHPIPE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.mark.usefixtures("no_server")
@pytest.mark.parametrize(
    ("mode", "local"), [(Mode.AUTO, True), (Mode.LOCAL, True), (Mode.PREFECT, False)]
)
def test_augment_plan_without_a_server(tmp_path, mode, local):
    # Run
    chosen = plan(load_augment_job(_augment_job(tmp_path)), mode)

    # Assert
    assert chosen.local is local
    assert chosen.api_url is None


@pytest.mark.usefixtures("no_server")
def test_augment_plan_auto_reports_to_a_configured_server(tmp_path, monkeypatch):
    # Setup
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    job = load_augment_job(_augment_job(tmp_path))

    # Run
    auto, local = plan(job, Mode.AUTO), plan(job, Mode.LOCAL)

    # Assert
    assert not auto.local and auto.api_url == "http://127.0.0.1:9/api"
    assert local.local


@pytest.mark.usefixtures("no_server")
def test_cli_augment_without_a_server_runs_locally(tmp_path):
    # Run
    result = runner.invoke(app, ["augment", str(_augment_job(tmp_path))])

    # Assert
    assert result.exit_code == 0, result.output
    assert "Running locally: no Prefect server configured" in result.output
    version = open_dataset("wine-augment@1", root=tmp_path / "store")
    frame = pd.read_parquet(version.path / "data")
    lineage = version.read_json("lineage.json")
    assert f"Published wine-augment@1 ({len(frame)} rows)" in result.output
    counts = frame.groupby("target").size()
    assert counts.nunique() == 1  # balanced: every class topped up to the largest
    assert frame["is_synthetic"].sum() == sum(lineage["augment"]["synthetic_per_class"].values())
    assert "prefect" not in lineage  # no flow run recorded it
    assert version.read_text(UPLIFT_MD).strip() in result.output  # the uplift is shown
