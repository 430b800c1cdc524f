"""`synth augment`: configuration errors stop before any work, naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

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
