from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import DataError
from validators import Thresholds, validate_table

GATES = [
    "quality.overall",
    "quality.column_shapes",
    "quality.column_pair_trends",
    "diagnostic.data_validity",
    "diagnostic.data_structure",
    "expectations.success",
]


def _write_parts(frame: pd.DataFrame, directory: Path, sizes: list[int]) -> list[Path]:
    """Write `frame` as consecutive Parquet parts of the given row counts."""
    paths, start = [], 0
    for index, size in enumerate(sizes):
        path = directory / f"part-{index:05d}.parquet"
        chunk = frame.iloc[start : start + size]
        pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), path)
        paths.append(path)
        start += size
    return paths


def _noisy(real: pd.DataFrame, scale: float, seed: int = 0) -> pd.DataFrame:
    """Real with Gaussian noise on numeric columns, clipped to the real range."""
    rng = np.random.default_rng(seed)
    frame = real.copy()
    for name in frame.select_dtypes("number"):
        column = frame[name]
        noise = rng.normal(0, scale * column.std(), len(column))
        frame[name] = (column + noise).clip(column.min(), column.max())
    return frame


def test_validate_table_real_copy_passes_fidelity_but_fails_as_a_copy(copy_report, wine_real):
    # Run
    checks = {c.name: c for c in copy_report.checks}

    # Assert: a verbatim copy aces every fidelity and schema gate, so only the detection AUC far
    # below 0.5 catches it when there is no holdout for the privacy checks.
    assert copy_report.passed is False
    assert copy_report.failed_checks == ["detection.c2st_copies"]
    assert checks["detection.c2st_copies"].value < 0.1
    assert [name for name in GATES if name not in checks] == []
    assert [name for name in GATES if not checks[name].passed] == []
    assert checks["quality.overall"].value > 0.99
    assert "gx.expect_table_row_count_to_equal" in checks
    assert (copy_report.real_rows, copy_report.synthetic_rows) == (178, 178)
    assert copy_report.evaluated_rows == 178
    assert len(copy_report.gx_result["frames"]) == 1


def test_validate_table_corrupted_fails_named_checks(corrupted_report):
    # Run
    failed = corrupted_report.failed_checks

    # Assert
    assert corrupted_report.passed is False
    assert failed == [
        "expectations.success",
        "gx.expect_table_row_count_to_equal",
        "gx.expect_column_values_to_be_between:alcohol",
        "gx.expect_column_values_to_not_be_null:hue",
        "gx.expect_column_values_to_be_in_set:target",
    ]
    row_count = corrupted_report.check("gx.expect_table_row_count_to_equal")
    assert (row_count.value, row_count.threshold) == (178, 200)
    assert corrupted_report.check("expectations.success").data["failed"] == failed[1:]


def test_validate_table_corrupted_markdown_lists_failures(corrupted_report):
    # Run
    markdown = corrupted_report.to_markdown()

    # Assert
    # The roll-up and its 4 failed expectations are one gate.
    assert markdown.startswith("**Validation FAILED**: 1 gate failed: expectations (4 of 44).")
    assert "| `expectations.success` | 0.9091 | >= 1 | — | **FAIL** |" in markdown
    assert "Great Expectations: 40 passed, 4 failed of 44." in markdown
    assert "hue: 61 of 178 values (34.27%) null (at most 5.00% allowed)" in markdown


def test_validate_table_json_round_trip_keeps_gx_result(corrupted_report):
    # Run
    restored = type(corrupted_report).from_json(corrupted_report.to_json())

    # Assert
    assert restored == corrupted_report
    assert restored.gx_result["frames"][0]["result"]["success"] is False


def test_validate_table_quality_min_override_fails_noisy(wine_real):
    # Setup
    noisy = _noisy(wine_real, scale=0.3)

    # Run
    default = validate_table(wine_real, noisy)
    strict = validate_table(wine_real, noisy, thresholds=Thresholds(quality_min=0.999))

    # Assert
    assert default.passed is True
    assert strict.failed_checks == ["quality.overall"]
    assert strict.check("quality.overall").threshold == 0.999
    assert strict.thresholds["quality_min"] == 0.999


def test_validate_table_expectations_advisory_when_not_required(wine_real, corrupted):
    # Run
    report = validate_table(
        wine_real, corrupted, thresholds=Thresholds(expectations_must_pass=False)
    )

    # Assert
    rollup = report.check("expectations.success")
    assert report.passed is True
    assert (rollup.passed, rollup.gate) == (False, False)
    assert "| `expectations.success` | 0.9302 | >= 1 | — | fail (advisory) |" in (
        report.to_markdown()
    )


def test_validate_table_without_expected_rows_skips_row_count(wine_real):
    # Run
    report = validate_table(wine_real, wine_real.head(100))

    # Assert
    names = [c.name for c in report.checks]
    assert "gx.expect_table_row_count_to_equal" not in names
    assert "rows.total" not in names
    assert report.check("expectations.success").passed is True


def test_validate_table_parts_give_same_verdicts_as_frame(wine_real, corrupted, tmp_path):
    # Setup
    paths = _write_parts(corrupted, tmp_path, [60, 60, 58])

    # Run
    whole = validate_table(wine_real, corrupted)
    parts = validate_table(wine_real, [str(p) for p in paths])

    # Assert
    assert {c.name: c.passed for c in parts.checks} == {c.name: c.passed for c in whole.checks}
    assert parts.check("quality.overall").value == pytest.approx(
        whole.check("quality.overall").value
    )
    assert parts.failed_checks == whole.failed_checks != []
    assert len(parts.gx_result["frames"]) == 3
    assert parts.synthetic_rows == 178


def test_validate_table_parts_check_planned_total(wine_real, tmp_path):
    # Setup: parts laid out as in a staged version
    (tmp_path / "data").mkdir()
    paths = _write_parts(wine_real, tmp_path / "data", [100, 78])

    # Run
    right = validate_table(wine_real, paths, expected_rows=178)
    wrong = validate_table(wine_real, paths, expected_rows=200)

    # Assert (the parts hold the real rows themselves, which the copy gate names either way),
    # keyed by the path inside the version, not by the (temporary) absolute path
    assert right.failed_checks == ["detection.c2st_copies"]
    assert right.check("rows.total").passed is True
    part_rows = right.check("rows.total").data["part_rows"]
    assert part_rows == {"data/part-00000.parquet": 100, "data/part-00001.parquet": 78}
    assert wrong.failed_checks == ["detection.c2st_copies", "expectations.success", "rows.total"]
    assert wrong.check("rows.total").detail == "178 rows in 2 parts, expected 200"


def test_validate_table_subsample_recorded_and_same_for_parts(wine_real, tmp_path):
    # Setup
    synthetic = pd.concat([_noisy(wine_real, 0.2, seed) for seed in range(4)], ignore_index=True)
    paths = _write_parts(synthetic, tmp_path, [300, 300, 112])
    thresholds = Thresholds(max_rows_for_metrics=250)

    # Run
    frame_report = validate_table(wine_real, synthetic, thresholds=thresholds, seed=3)
    parts_report = validate_table(wine_real, paths, thresholds=thresholds, seed=3)

    # Assert
    assert (frame_report.synthetic_rows, frame_report.evaluated_rows) == (712, 250)
    assert (parts_report.synthetic_rows, parts_report.evaluated_rows) == (712, 250)
    assert frame_report.sample_seed == 3
    assert parts_report.check("quality.overall").value == pytest.approx(
        frame_report.check("quality.overall").value
    )
    not_null = frame_report.check("gx.expect_column_values_to_not_be_null:alcohol")
    assert not_null.data["element_count"] == 712  # expectations see every row


def test_validate_table_detection_and_privacy_caps_apply_and_are_recorded(wine_real):
    # Setup: 130 real training rows, 48 holdout rows, 712 synthetic rows.
    real, holdout = wine_real.iloc[:130], wine_real.iloc[130:]
    synthetic = pd.concat([_noisy(real, 0.2, seed) for seed in range(6)], ignore_index=True)[:712]
    capped = Thresholds(max_rows_for_detection=100, max_rows_for_privacy=60)

    # Run
    report = validate_table(real, synthetic, thresholds=capped, holdout=holdout)
    whole = validate_table(real, synthetic, holdout=holdout)

    # Assert: over a cap, a seeded sample of the cap's size, recorded in the check and report.
    detection, dcr = report.check("detection.c2st_auc").data, report.check("privacy.dcr_share")
    assert (detection["rows_used"], detection["baseline_rows_used"]) == (100, 48)
    used = [dcr.data[f"{side}_rows_used"] for side in ("synthetic", "train", "holdout")]
    assert used == [60, 60, 48]  # the holdout is under the cap: all of it
    assert report.thresholds["max_rows_for_detection"] == 100
    assert report.thresholds["max_rows_for_privacy"] == 60
    # Under the default caps every real row is used (detection: as many synthetic rows).
    detection, dcr = whole.check("detection.c2st_auc").data, whole.check("privacy.dcr_share")
    assert (detection["rows_used"], detection["baseline_rows_used"]) == (130, 48)
    assert (dcr.data["train_rows_used"], dcr.data["holdout_rows_used"]) == (130, 48)
    assert dcr.data["synthetic_rows_used"] == 712


def test_validate_table_missing_column_raises_naming_it(wine_real):
    # Setup
    synthetic = wine_real.drop(columns=["hue", "proline"])

    # Run / Assert
    with pytest.raises(
        DataError,
        match=re.escape("The synthetic table lacks columns of the real table: ['hue', 'proline']"),
    ):
        validate_table(wine_real, synthetic)


def test_validate_table_part_missing_column_raises_naming_file(wine_real, tmp_path):
    # Setup
    paths = _write_parts(wine_real.drop(columns=["ash"]), tmp_path, [178])

    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape(f"{paths[0]} lacks columns of the real table: ['ash']")
    ):
        validate_table(wine_real, paths)


def test_validate_table_empty_synthetic_raises(wine_real):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("The synthetic table has 0 rows")):
        validate_table(wine_real, wine_real.head(0))


def test_validate_table_empty_real_raises(wine_real):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("The real table has 0 rows")):
        validate_table(wine_real.head(0), wine_real)


def test_validate_table_real_without_columns_raises(wine_real):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("The real table has no columns")):
        validate_table(pd.DataFrame(index=range(3)), wine_real)


def test_validate_table_no_parts_raises(wine_real):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("No synthetic part files were given")):
        validate_table(wine_real, [])


def test_validate_table_unreadable_part_raises_naming_file(wine_real, tmp_path):
    # Setup
    missing = tmp_path / "part-00000.parquet"

    # Run / Assert
    with pytest.raises(DataError, match=re.escape(f"Synthetic part file {missing} cannot be read")):
        validate_table(wine_real, [missing])


def test_validate_table_empty_parts_raise(wine_real, tmp_path):
    # Setup
    paths = _write_parts(wine_real.head(0), tmp_path, [0])

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("hold 0 rows")):
        validate_table(wine_real, paths)


def test_validate_table_fidelity_real_scores_against_conditioned_rows(wine_real):
    # Setup: synthetic rows that all meet the condition target == "1".
    subset = wine_real[wine_real["target"] == "1"].reset_index(drop=True)

    # Run
    against_all = validate_table(wine_real, subset.copy())
    against_subset = validate_table(wine_real, subset.copy(), fidelity_real=subset)

    # Assert
    shapes_all = against_all.check("quality.column_shapes").value
    assert against_subset.check("quality.overall").value == pytest.approx(1.0, abs=1e-6)
    assert shapes_all < against_subset.check("quality.column_shapes").value
    # The domain of valid values stays the whole real table.
    assert against_subset.check("diagnostic.data_validity").passed
    assert against_subset.check("expectations.success").passed
