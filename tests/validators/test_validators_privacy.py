from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from validators.privacy import PrivacyResult, dcr_privacy


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.exponential(size=rows),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 999, rows), "h"),
        }
    )


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _table(400, 0)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return _table(400, 1)


def test_dcr_privacy_copy_of_train_is_closer_to_train_and_all_copies(train, holdout):
    # Run
    result = dcr_privacy(train, holdout, train.copy())

    # Assert
    assert isinstance(result, PrivacyResult)
    assert result.dcr_share == 1.0
    assert result.exact_copy_rate == 1.0
    assert result.dcr_train_median == 0.0
    assert result.holdout_exact_copy_rate == 0.0


def test_dcr_privacy_fresh_rows_from_the_same_source_share_about_half(train, holdout):
    # Run
    result = dcr_privacy(train, holdout, _table(400, 2))

    # Assert
    assert result.dcr_share == pytest.approx(0.5, abs=0.07)
    assert result.exact_copy_rate == 0.0
    assert result.nndr_median == pytest.approx(result.holdout_nndr_median, abs=0.1)


def test_dcr_privacy_exact_copies_match_across_dtypes(train, holdout):
    # Setup
    synthetic = train.head(100).astype({"colour": "category"})

    # Run
    result = dcr_privacy(train, holdout, synthetic)

    # Assert
    assert result.exact_copy_rate == 1.0


def test_dcr_privacy_distance_is_the_mean_of_gower_terms():
    # Setup: one reference row; the query differs in the category and has a missing number.
    train = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "a"]})
    holdout = pd.DataFrame({"x": [1.0, 2.0], "c": ["b", "b"]})
    synthetic = pd.DataFrame({"x": [np.nan], "c": ["b"]})

    # Run
    result = dcr_privacy(train, holdout, synthetic)

    # Assert
    assert result.dcr_train_median == 1.0  # (missing vs value: 1 + category differs: 1) / 2
    assert result.dcr_holdout_median == 0.5  # (1 + 0) / 2
    assert result.dcr_share == 0.0


def test_dcr_privacy_subsamples_large_inputs_and_reports_sizes(train, holdout):
    # Run
    result = dcr_privacy(train, holdout.head(150), _table(500, 3), max_rows=120, seed=4)

    # Assert
    assert (result.train_rows_used, result.holdout_rows_used) == (120, 120)
    assert result.synthetic_rows_used == 120
    assert result.seed == 4


def test_dcr_privacy_synthetic_lacking_a_column_raises_data_error(train, holdout):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("lacks training column(s) ['when']")):
        dcr_privacy(train, holdout, train.drop(columns="when"))
