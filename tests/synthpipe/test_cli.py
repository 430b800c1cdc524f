"""The `synth` command line, driven through typer's runner (and once as a real subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from generators import get_generator_class
from sources.tables import load_builtin
from synthpipe.cli import app

runner = CliRunner()


def _write_job(path, root, **overrides):
    job = {
        "dataset": "wine-cli",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 200,
        "root": str(root),
    }
    job.update(overrides)
    path.write_text(yaml.safe_dump(job))
    return path


def test_cli_import_is_light():
    # Run: `synth --help` must not pay for the heavy libraries.
    code = (
        "import sys, synthpipe.cli; "
        "print(sorted(m for m in ('sdv', 'prefect', 'torch', 'great_expectations', 'sdmetrics') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    # Assert
    assert out.stdout.strip() == "[]"


def test_cli_generators_lists_registry():
    # Run
    result = runner.invoke(app, ["generators"])

    # Assert
    assert result.exit_code == 0
    assert re.search(r"^ctgan +table +SDV CTGAN", result.output, re.MULTILINE)
    assert re.search(r"^gaussian_copula +table ", result.output, re.MULTILINE)
    # Every description whole: argn's first docstring paragraph spans two source lines.
    argn = " ".join(get_generator_class("argn").__doc__.strip().split("\n\n")[0].split())
    assert argn in " ".join(result.output.split())


def test_cli_run_invalid_job_exits_2_with_the_problem(tmp_path):
    # Setup
    job = _write_job(tmp_path / "job.yaml", tmp_path, rows=-5)

    # Run
    result = runner.invoke(app, ["run", str(job)])

    # Assert
    assert result.exit_code == 2
    assert "rows: Input should be greater than or equal to 1" in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_cli_run_then_list_and_show(tmp_path):
    # Setup
    job = _write_job(tmp_path / "job.yaml", tmp_path / "store")

    # Run
    ran = runner.invoke(app, ["run", str(job)])
    listed = runner.invoke(app, ["datasets", "list", "--root", str(tmp_path / "store")])
    shown = runner.invoke(app, ["datasets", "show", "wine-cli", "--root", str(tmp_path / "store")])

    # Assert
    assert ran.exit_code == 0, ran.output
    assert "Published wine-cli@1 (200 rows)" in ran.output
    # The flow's tasks report the same phases as a local run.
    phases = re.findall(r"^(\w+) +\d+\.\d s\b", ran.stderr, re.MULTILINE)
    assert phases == ["start", "load", "fit", "sample", "validate", "report", "publish"]
    assert "wine-cli@1\tpublished\t200 rows" in listed.output and "<- latest" in listed.output
    assert shown.exit_code == 0
    assert "status=published" in shown.output and "target:string" in shown.output
    assert "PASSED" in shown.output


@pytest.mark.usefixtures("prefect_harness")
def test_cli_run_failing_gate_exits_1_and_lists_quarantine(tmp_path):
    # Setup
    job = _write_job(tmp_path / "job.yaml", tmp_path, validation={"quality_min": 0.999})

    # Run
    ran = runner.invoke(app, ["run", str(job)])
    listed = runner.invoke(app, ["datasets", "list", "--root", str(tmp_path)])

    # Assert: the flow's ending is the local run's: verdict, failing check, report, no traceback
    assert ran.exit_code == 1
    assert "Validation FAILED: 1 gate failed: quality.overall" in ran.stderr
    assert "  quality.overall  value " in ran.stderr and "threshold >= 0.999" in ran.stderr
    assert f"Report: {tmp_path / 'wine-cli' / 'v1' / 'report' / 'report.html'}" in ran.stderr
    # (Prefect's log handler may print a "Logging error" traceback of its own here: it keeps
    # the stream of an earlier CliRunner call. The failed gate's is never printed.)
    assert "raise_if_quarantined" not in ran.output and "core.errors." not in ran.output
    assert "wine-cli@1\tquarantined" in listed.output and "latest" not in listed.output


def test_cli_validate_copy_without_holdout_splits_one_and_fails(tmp_path):
    # Setup: the "synthetic" table is the real table itself, shuffled by rows; no --holdout.
    wine = load_builtin("wine")
    wine.to_csv(tmp_path / "real.csv", index=False)
    wine.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "synthetic.parquet")

    # Run
    result = runner.invoke(
        app,
        [
            "validate",
            "--real",
            str(tmp_path / "real.csv"),
            "--synthetic",
            str(tmp_path / "synthetic.parquet"),
            "--out",
            str(tmp_path / "report"),
        ],
    )

    # Assert: a seeded 20% holdout is split off and reported, so the privacy checks ran, and the
    # copy fails them and the detection AUC far below 0.5; the reports are still written.
    assert result.exit_code == 1, result.output
    assert "Holdout: 36 of 178 rows of real.csv split off (--holdout-fraction 0.2, seed 0)" in (
        result.output
    )
    assert (
        "Validation FAILED: 2 gates failed: detection.c2st_copies, privacy.exact_copy_rate"
        in result.output
    )
    report = (tmp_path / "report" / "report.md").read_text()
    assert "FAILED" in report and "privacy.dcr_share" in report
    html = (tmp_path / "report" / "report.html").read_text()
    assert "plots/columns.png" in html and (tmp_path / "report/plots/columns.png").is_file()


def test_cli_validate_holdout_fraction_zero_is_an_error(tmp_path):
    # Setup
    load_builtin("wine").to_csv(tmp_path / "real.csv", index=False)
    real = str(tmp_path / "real.csv")

    # Run
    result = runner.invoke(
        app, ["validate", "--real", real, "--synthetic", real, "--holdout-fraction", "0"]
    )

    # Assert
    assert result.exit_code == 2
    assert "--holdout-fraction must be between 0 and 1 (exclusive), got 0.0" in result.output
    assert "Traceback" not in result.output


def test_cli_validate_corrupted_synthetic_fails_naming_checks(tmp_path):
    # Setup
    wine = load_builtin("wine")
    wine.to_csv(tmp_path / "real.csv", index=False)
    broken = wine.copy()
    broken["alcohol"] = broken["alcohol"] * 10
    broken.to_csv(tmp_path / "synthetic.csv", index=False)

    # Run
    result = runner.invoke(
        app,
        [
            "validate",
            "--real",
            str(tmp_path / "real.csv"),
            "--synthetic",
            str(tmp_path / "synthetic.csv"),
        ],
    )

    # Assert
    assert result.exit_code == 1
    assert "Validation FAILED" in result.output and "alcohol" in result.output


def test_cli_validate_copy_with_holdout_fails_privacy_and_publishes_only_when_asked(tmp_path):
    # Setup: the "synthetic" table is the real training rows themselves.
    from sources.tables import split_table

    wine = load_builtin("wine")
    train, holdout, _ = split_table(wine, 0.3, seed=0)
    train.to_parquet(tmp_path / "real.parquet")
    holdout.to_parquet(tmp_path / "holdout.parquet")
    train.to_parquet(tmp_path / "synthetic.parquet")
    args = ["validate", "--real", str(tmp_path / "real.parquet")]
    args += ["--synthetic", str(tmp_path / "synthetic.parquet")]
    args += ["--holdout", str(tmp_path / "holdout.parquet"), "--target", "target"]

    # Run
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    published = runner.invoke(app, [*args, "--publish", "wine-copy", "--root", str(tmp_path)])

    # Assert
    assert result.exit_code == 1
    assert (
        "Validation FAILED: 3 gates failed: detection.c2st_copies, privacy.dcr_share, "
        "privacy.exact_copy_rate" in result.output
    )
    assert "utility.tstr_ratio" in (tmp_path / "out" / "report.md").read_text()
    assert "plots/dcr.png" in (tmp_path / "out" / "report.html").read_text()
    assert published.exit_code == 1
    assert "Stored wine-copy@1 (quarantined)" in published.output
    listed = runner.invoke(app, ["datasets", "list", "--root", str(tmp_path)])
    # Only the --publish run stored a version (the --out run would have made it @2).
    assert listed.output.startswith(f"wine-copy@1\tquarantined\t{len(train)} rows")
    assert "wine-copy@2" not in listed.output
    assert (tmp_path / "wine-copy" / "v1" / "report" / "report.html").is_file()


def test_cli_validate_holdout_and_fraction_together_is_an_error(tmp_path):
    # Setup
    load_builtin("wine").to_csv(tmp_path / "real.csv", index=False)
    real = str(tmp_path / "real.csv")
    args = ["validate", "--real", real, "--synthetic", real, "--holdout", real]

    # Run
    result = runner.invoke(app, [*args, "--holdout-fraction", "0.2"])

    # Assert
    assert result.exit_code == 2
    assert "Give --holdout or --holdout-fraction, not both." in result.output


def test_cli_validate_thresholds_file_with_aliases_is_refused(tmp_path):
    # Setup
    load_builtin("wine").to_csv(tmp_path / "real.csv", index=False)
    real = str(tmp_path / "real.csv")
    (tmp_path / "gates.yaml").write_text("a: &a [1, 2]\nquality_min: *a\n")
    args = ["validate", "--real", real, "--synthetic", real]

    # Run
    result = runner.invoke(app, [*args, "--thresholds", str(tmp_path / "gates.yaml")])

    # Assert
    assert result.exit_code == 2
    assert "gates.yaml uses the YAML alias *a at line 2" in result.output


def test_cli_datasets_show_unknown_dataset_fails(tmp_path):
    # Run
    result = runner.invoke(app, ["datasets", "show", "nope@latest", "--root", str(tmp_path)])

    # Assert
    assert result.exit_code == 1
    assert "nope" in result.output


def test_cli_validate_image_folder_of_one_class_fails_cas_per_class(tmp_path, monkeypatch):
    # Setup: a "generator" that only draws 3s, as a folder of class subfolders; the extractor
    # caches under the store root, a temporary one here.
    from PIL import Image

    from sources.images import load_digits_images
    from validators.image_quality import to_uint8

    monkeypatch.setenv("SYNTHPIPE_DATA_ROOT", str(tmp_path / "store"))
    digits = load_digits_images()
    threes = to_uint8(digits.images[digits.labels == 3][:60])
    (tmp_path / "synthetic" / "3").mkdir(parents=True)
    for i, image in enumerate(threes):
        Image.fromarray(image[..., 0]).save(tmp_path / "synthetic" / "3" / f"{i}.png")
    (tmp_path / "gates.yaml").write_text("extractor_steps: 100\n")

    # Run
    result = runner.invoke(
        app,
        [
            "validate",
            "--real",
            "digits",
            "--synthetic",
            str(tmp_path / "synthetic"),
            "--thresholds",
            str(tmp_path / "gates.yaml"),
            "--out",
            str(tmp_path / "out"),
        ],
    )

    # Assert: exit 1 naming the per-class CAS gate; JSON, Markdown and HTML with plots written
    assert result.exit_code == 1, result.output
    verdict = [line for line in result.output.splitlines() if line.startswith("Validation FAILED:")]
    assert len(verdict) == 1 and "image.cas_per_class" in verdict[0]
    assert re.findall(r"^(\w+) +\d+\.\d s\b", result.stderr, re.MULTILINE) == [
        "load",
        "validate",
        "report",
    ]
    steps = set(re.findall(r"^  · (.+?)  \d+\.\d s\b", result.stderr, re.MULTILINE))
    assert {
        "expectations (GX)",
        "features (CNN)",
        "FD / KID / PRDC",
        "CAS",
        "memorisation",
    } <= steps
    html = (tmp_path / "out" / "report.html").read_text()
    assert "plots/samples.png" in html and (tmp_path / "out" / "plots" / "samples.png").is_file()
    assert '"image.cas_per_class"' in (tmp_path / "out" / "report.json").read_text()
    assert "FAILED" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "store" / ".extractors").is_dir()
    assert not any((tmp_path / "store").glob("*/v*"))  # nothing published
