"""What `synth run` and `synth validate` print while they work and how they end: one line per
phase with its time (and per shard / check group), and a failed gate or bad input ends with the
verdict, the failing checks and the report path (or one error line), never a traceback unless
`--verbose` asks for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sources.tables import load_builtin
from synthpipe.cli import app

pytestmark = pytest.mark.slow  # each runs a small job or validation end to end
runner = CliRunner()
PHASE = re.compile(r"^(\w+) +\d+\.\d s\b", re.MULTILINE)  # "validate    4.8 s  ..."
STEP = re.compile(r"^  · (.+?)  \d+\.\d s\b", re.MULTILINE)  # "  · shard 0  0.2 s  ..."


def _job(tmp_path: Path, **overrides) -> str:
    job = {
        "dataset": "wine-progress",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 60,
        "shard_rows": 30,
        "root": str(tmp_path / "store"),
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job | overrides))
    return str(path)


def test_local_run_prints_each_phase_in_order_with_shards_and_check_groups(tmp_path):
    # Run
    result = runner.invoke(app, ["run", _job(tmp_path), "--mode", "local"])

    # Assert: the phase lines on stderr, in the order the run goes through them
    assert result.exit_code == 0, result.output
    assert PHASE.findall(result.stderr) == [
        "load",
        "fit",
        "sample",
        "validate",
        "report",
        "publish",
    ]
    steps = STEP.findall(result.stderr)
    assert steps[:2] == ["shard 0", "shard 1"]
    assert {"quality (SDMetrics)", "detection (C2ST)", "privacy (DCR)", "expectations (GX)"} <= set(
        steps
    )
    assert "builtin:wine: 142 training, 36 holdout records" in result.stderr
    assert "for ephemeral docs site" not in result.output
    assert "Published wine-progress@1 (60 rows)" in result.stdout


def test_failed_gate_ends_with_verdict_failing_checks_and_report_without_traceback(tmp_path):
    # Run
    result = runner.invoke(
        app, ["run", _job(tmp_path, validation={"quality_min": 0.999}), "--mode", "local"]
    )

    # Assert
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    ending = result.stderr[result.stderr.index("Validation FAILED") :].splitlines()
    assert ending[0] == "Validation FAILED: 1 gate failed: quality.overall"
    assert re.fullmatch(r"  quality\.overall  value 0\.\d+, threshold >= 0\.999.*", ending[1])
    assert ending[2] == "Quarantined wine-progress@1: stored, never `latest`."
    report = Path(ending[3].removeprefix("Report: "))
    assert report.name == "report.html" and report.is_file()


def test_verbose_shows_the_traceback_before_the_same_ending(tmp_path):
    # Run
    args = ["run", _job(tmp_path, validation={"quality_min": 0.999}), "--mode", "local"]
    result = runner.invoke(app, [*args, "--verbose"])

    # Assert
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "core.errors.ValidationFailedError" in result.stderr
    assert result.stderr.index("Traceback") < result.stderr.index("Validation FAILED")


def test_a_bad_column_ends_in_one_line_naming_it_and_verbose_adds_the_traceback(tmp_path):
    # Setup: a utility target the table does not have
    job = _job(tmp_path, target="no_such_column")

    # Run
    quiet = runner.invoke(app, ["run", job, "--mode", "local"])
    verbose = runner.invoke(app, ["run", job, "--mode", "local", "--verbose"])

    # Assert: the load phase failed, so only the error line is on stderr
    assert quiet.exit_code == 1 and "Traceback" not in quiet.output
    assert len(quiet.stderr.strip().splitlines()) == 1, quiet.stderr
    assert "no_such_column" in quiet.stderr
    assert verbose.exit_code == 1 and "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == quiet.stderr.strip()


def test_validate_prints_its_phases_and_a_failed_verdict_without_the_expectation_list(tmp_path):
    # Setup: one column scaled tenfold
    wine = load_builtin("wine")
    wine.to_csv(tmp_path / "real.csv", index=False)
    broken = wine.assign(alcohol=wine["alcohol"] * 10)
    broken.to_csv(tmp_path / "synthetic.csv", index=False)
    args = ["validate", "--real", str(tmp_path / "real.csv")]
    args += ["--synthetic", str(tmp_path / "synthetic.csv"), "--out", str(tmp_path / "out")]

    # Run
    result = runner.invoke(app, args)

    # Assert: phases in order, each check group a line; the ending names only failing checks
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert PHASE.findall(result.stderr) == ["load", "validate", "report"]
    assert {"quality (SDMetrics)", "expectations (GX)"} <= set(STEP.findall(result.stderr))
    failing = [line for line in result.stderr.splitlines() if line.startswith("  gx.")]
    assert failing and all(":alcohol" in line and "threshold" in line for line in failing)
    assert "expect_column_values_to_be_in_type_list" not in result.output  # no passing ones
    assert f"Report: {tmp_path / 'out' / 'report.html'}" in result.stderr
