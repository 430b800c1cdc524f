from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from validators import Thresholds, derive_expectations, run_expectations


def _by_name(spec: list[dict]) -> dict[str, dict]:
    """Spec entries keyed like their checks: `type` or `type:column`."""
    return {
        entry["type"] + (f":{entry['kwargs']['column']}" if "column" in entry["kwargs"] else ""): (
            entry["kwargs"]
        )
        for entry in spec
    }


def test_derive_expectations_wine_has_every_kind(wine_real):
    # Run
    spec = _by_name(derive_expectations(wine_real, Thresholds()))

    # Assert
    assert spec["expect_table_columns_to_match_ordered_list"] == {
        "column_list": list(wine_real.columns)
    }
    assert spec["expect_table_row_count_to_equal"] == {"value": {"$PARAMETER": "expected_rows"}}
    assert {"int64", "float64", "float32"} <= set(
        spec["expect_column_values_to_be_in_type_list:alcohol"]["type_list"]
    )
    assert spec["expect_column_values_to_be_in_type_list:target"]["type_list"] == ["str"]
    assert spec["expect_column_values_to_be_in_set:target"]["value_set"] == ["0", "1", "2"]
    assert spec["expect_column_values_to_not_be_null:alcohol"]["mostly"] == 0.95
    assert "expect_column_values_to_be_between:target" not in spec
    assert "expect_column_values_to_be_in_set:alcohol" not in spec


def test_derive_expectations_range_widened_by_tolerance(wine_real):
    # Setup
    low, high = wine_real["alcohol"].min(), wine_real["alcohol"].max()

    # Run
    spec = _by_name(derive_expectations(wine_real, Thresholds(range_tolerance=0.1)))

    # Assert
    between = spec["expect_column_values_to_be_between:alcohol"]
    assert between["min_value"] == pytest.approx(low - 0.1 * (high - low))
    assert between["max_value"] == pytest.approx(high + 0.1 * (high - low))


def test_derive_expectations_null_fraction_adds_tolerance_and_clips():
    # Setup
    real = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 5.0], "y": [np.nan] * 4 + [1.0]})

    # Run
    spec = _by_name(derive_expectations(real, Thresholds(null_fraction_tolerance=0.3)))

    # Assert
    assert spec["expect_column_values_to_not_be_null:x"]["mostly"] == 0.5  # 1 - (0.2 + 0.3)
    assert spec["expect_column_values_to_not_be_null:y"]["mostly"] == 0.0  # 1 - 1.1, clipped


def test_derive_expectations_bool_and_object_sets():
    # Setup
    real = pd.DataFrame({"flag": [True, False, True], "city": ["b", "a", None]})

    # Run
    spec = _by_name(derive_expectations(real, Thresholds()))

    # Assert
    assert spec["expect_column_values_to_be_in_set:flag"]["value_set"] == [False, True]
    assert spec["expect_column_values_to_be_in_type_list:flag"]["type_list"] == ["bool"]
    assert spec["expect_column_values_to_be_in_set:city"]["value_set"] == ["a", "b"]


def test_derive_expectations_spec_is_plain_json(fair_real):
    # Run
    spec = derive_expectations(fair_real, Thresholds())

    # Assert
    assert json.loads(json.dumps(spec)) == spec


def test_run_expectations_real_frames_of_different_sizes_pass(wine_real):
    # Setup
    spec = derive_expectations(wine_real, Thresholds())
    frames = [(wine_real, 178), (wine_real.head(50), 50)]

    # Run
    checks, raw = run_expectations(spec, frames)

    # Assert
    assert [c.name for c in checks if not c.passed] == []
    assert len(checks) == len(spec)
    row_count = next(c for c in checks if c.name == "gx.expect_table_row_count_to_equal")
    assert (row_count.value, row_count.threshold, row_count.comparison) == (228, 228, "==")
    assert [f["expected_rows"] for f in raw["frames"]] == [178, 50]
    assert raw["frames"][1]["result"]["success"] is True


def test_run_expectations_fails_when_one_frame_fails(wine_real, corrupted):
    # Setup
    spec = derive_expectations(wine_real, Thresholds())

    # Run
    checks, _ = run_expectations(spec, [(wine_real, 178), (corrupted, 178)])

    # Assert
    failed = {c.name: c for c in checks if not c.passed}
    assert set(failed) == {
        "gx.expect_column_values_to_be_between:alcohol",
        "gx.expect_column_values_to_be_in_set:target",
        "gx.expect_column_values_to_not_be_null:hue",
    }
    between = failed["gx.expect_column_values_to_be_between:alcohol"]
    assert between.value == pytest.approx(100 * 20 / 178)
    assert between.threshold == pytest.approx(10.0)  # range_outside_max, in percent
    assert between.data["failed_frames"] == [1]
    assert between.detail.startswith("alcohol: 20 of 356 values")
    assert "(at most 10.00% allowed)" in between.detail
    assert "99.0" in between.detail and "(failed on 1 of 2 frames)" in between.detail
    assert "'class_9'" in failed["gx.expect_column_values_to_be_in_set:target"].detail


def test_run_expectations_category_dtype_matches_object(wine_real):
    # Setup: real has `target` as category, a generator may return plain strings, or vice versa
    spec = derive_expectations(wine_real, Thresholds())
    as_object = wine_real.astype({"target": object})
    as_string = wine_real.astype({"target": "string", "magnesium": "Int64"})

    # Run
    checks, _ = run_expectations(spec, [(as_object, 178), (as_string, 178), (wine_real, 178)])

    # Assert
    assert [c.name for c in checks if not c.passed] == []


def test_run_expectations_wrong_dtype_names_column(wine_real):
    # Setup
    spec = derive_expectations(wine_real, Thresholds())
    frame = wine_real.astype({"proline": str})

    # Run
    checks, _ = run_expectations(spec, [(frame, 178)])

    # Assert
    failed = {c.name: c for c in checks if not c.passed}
    type_check = failed["gx.expect_column_values_to_be_in_type_list:proline"]
    assert type_check.detail.startswith("proline: 178 of 178 values (100.00%) not of a type")


def test_run_expectations_unknown_type_raises_config_error(wine_real):
    # Setup
    spec = [{"type": "expect_the_unexpected", "kwargs": {}}]

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("Expectation spec entry 0")):
        run_expectations(spec, [(wine_real, 178)])


def test_run_expectations_no_frames_raises(wine_real):
    # Setup
    spec = derive_expectations(wine_real, Thresholds())

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("run_expectations got no frames")):
        run_expectations(spec, [])


def test_run_expectations_column_mean_is_the_value_against_its_range(wine_real):
    # Setup: real mean alcohol is 13.0; a range it misses
    spec = [
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "alcohol", "min_value": 14.0, "max_value": 15.0},
        }
    ]

    # Run
    (check,), _ = run_expectations(spec, [(wine_real, 178)])

    # Assert: the observed mean as a plain number, not a repr of a numpy scalar
    assert check.passed is False
    assert check.value == pytest.approx(wine_real["alcohol"].mean())
    assert type(check.data["observed_value"]) is float
    assert check.detail == f"alcohol: observed {check.value:.4g}, expected within [14, 15]"


def test_run_expectations_logs_no_docs_site_line_even_at_info(wine_real, caplog):
    # Setup: everything at INFO reaches the log, as under a verbose logging config
    caplog.set_level("INFO")
    spec = derive_expectations(wine_real, Thresholds())

    # Run
    run_expectations(spec, [(wine_real, 178)])

    # Assert: GX's "Created temporary directory ... for ephemeral docs site" is not for users
    assert not [r for r in caplog.records if "ephemeral docs site" in r.getMessage()]
