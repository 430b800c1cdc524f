from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from validators.detection import DetectionResult, c2st_detection


def _correlated(rows: int, seed: int) -> pd.DataFrame:
    """Two strongly correlated numbers and a category that depends on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = x + 0.1 * rng.normal(size=rows)
    return pd.DataFrame({"x": x, "y": y, "sign": np.where(x > 0, "pos", "neg")})


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return _correlated(600, 0)


def test_c2st_detection_fresh_sample_is_near_chance_with_baseline(real):
    # Run
    result = c2st_detection(real, _correlated(600, 1), holdout=_correlated(300, 2), seed=0)

    # Assert
    assert isinstance(result, DetectionResult)
    assert result.auc == pytest.approx(0.5, abs=0.1)
    assert result.baseline_auc == pytest.approx(0.5, abs=0.12)
    assert (result.rows_used, result.baseline_rows_used, len(result.auc_folds)) == (600, 300, 5)


def test_c2st_detection_independent_shuffled_columns_are_detected(real):
    # Setup: every column permuted on its own keeps the marginals and breaks the correlations.
    rng = np.random.default_rng(3)
    shuffled = pd.DataFrame({c: rng.permutation(real[c].to_numpy()) for c in real.columns})

    # Run
    result = c2st_detection(real, shuffled, seed=0)

    # Assert
    assert result.auc > 0.9
    assert result.baseline_auc is None


def test_c2st_detection_caps_rows_per_side_and_is_seeded(real):
    # Run
    first = c2st_detection(real, _correlated(900, 1), max_rows=200, seed=5)
    again = c2st_detection(real, _correlated(900, 1), max_rows=200, seed=5)

    # Assert
    assert first.rows_used == 200
    assert first == again


def test_c2st_detection_missing_column_is_named(real):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("lacks real column(s) ['sign']")):
        c2st_detection(real, real.drop(columns="sign"))
