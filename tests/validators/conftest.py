"""Real tables and reports shared by the validators tests (validation runs cost ~1 s each)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validators import ValidationReport, validate_table


@pytest.fixture(scope="session")
def wine_real() -> pd.DataFrame:
    """scikit-learn wine: 178 rows, 13 numeric columns and `target` as a str category."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].astype(str).astype("category")
    return frame


@pytest.fixture(scope="session")
def fair_real() -> pd.DataFrame:
    """statsmodels fair as shipped (6,366 rows); SDV 2.0 detects its coded columns as ordinal."""
    import statsmodels.api as sm

    return sm.datasets.fair.load_pandas().data


@pytest.fixture(scope="session")
def corrupted(wine_real: pd.DataFrame) -> pd.DataFrame:
    """A copy of wine with one fault per expectation kind (see `corrupted_report`)."""
    frame = wine_real.copy()
    frame["target"] = frame["target"].astype(object)
    frame.loc[:19, "alcohol"] = 99.0  # real max 14.83: far beyond the 5% tolerance, in 11% of rows
    frame.loc[10:15, "target"] = "class_9"  # a category real never has
    frame.loc[20:80, "hue"] = np.nan  # 34% nulls where real has none
    return frame


@pytest.fixture(scope="session")
def copy_report(wine_real: pd.DataFrame) -> ValidationReport:
    return validate_table(wine_real, wine_real.copy(), expected_rows=len(wine_real))


@pytest.fixture(scope="session")
def corrupted_report(wine_real: pd.DataFrame, corrupted: pd.DataFrame) -> ValidationReport:
    """`corrupted` validated with a planned row count it misses (200 planned, 178 given)."""
    return validate_table(wine_real, corrupted, expected_rows=200)
