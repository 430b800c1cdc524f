from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from validators.utility import UtilityResult, tstr_utility


def _table(rows: int, seed: int) -> pd.DataFrame:
    """A binary target that depends on a number and a category, plus a regression target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    signal = 2 * x + (colour == "red") * 1.5
    return pd.DataFrame(
        {
            "x": x,
            "colour": colour,
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 99, rows), "D"),
            "label": np.where(signal + rng.normal(size=rows) > 0.5, "yes", "no"),
            "amount": signal * 3 + rng.normal(size=rows),
            "kind": rng.choice(["a", "b", "c"], rows),
        }
    )


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _table(600, 0)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return _table(300, 1)


def test_tstr_utility_synthetic_equal_to_train_scores_like_trtr(train, holdout):
    # Run
    result = tstr_utility(train, holdout, train.copy(), "label")

    # Assert
    assert isinstance(result, UtilityResult)
    assert (result.task, result.metric) == ("binary", "roc_auc")
    assert result.tstr == result.trtr > 0.85
    assert result.ratio == 1.0
    assert set(result.scores) == {"roc_auc", "accuracy", "macro_f1"}


def test_tstr_utility_target_unrelated_to_features_scores_near_chance(train, holdout):
    # Setup
    shuffled = train.assign(label=train["label"].sample(frac=1, random_state=0).to_numpy())

    # Run
    result = tstr_utility(train, holdout, shuffled, "label")

    # Assert
    assert result.tstr == pytest.approx(0.5, abs=0.1)
    assert result.ratio < 0.65


def test_tstr_utility_multiclass_reports_accuracy_and_macro_f1(train, holdout):
    # Run
    result = tstr_utility(train.drop(columns="label"), holdout, train, "kind")

    # Assert
    assert (result.task, result.metric) == ("multiclass", "accuracy")
    assert set(result.scores) == {"accuracy", "macro_f1"}


def test_tstr_utility_numeric_target_is_regression_scored_by_r2(train, holdout):
    # Run
    result = tstr_utility(train, holdout, train, "amount")

    # Assert
    assert (result.task, result.metric) == ("regression", "r2")
    assert result.trtr > 0.8


def test_tstr_utility_single_class_synthetic_scores_the_constant_prediction(train, holdout):
    # Setup
    one_class = train.assign(label="no")

    # Run
    result = tstr_utility(train, holdout, one_class, "label")

    # Assert
    assert result.tstr == 0.5
    assert result.notes == ["tstr: the training target has a single class ('no')"]


def test_tstr_utility_categories_only_in_synthetic_are_encoded_consistently(train, holdout):
    # Setup
    synthetic = train.copy()
    synthetic.loc[:50, "colour"] = "purple"

    # Run
    result = tstr_utility(train, holdout, synthetic, "label")

    # Assert
    assert 0.5 < result.tstr <= 1.0


def test_tstr_utility_unknown_target_raises_config_error(train, holdout):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("target 'churn' is not a column of train")):
        tstr_utility(train, holdout, train, "churn")


def test_tstr_utility_synthetic_lacking_a_column_raises_data_error(train, holdout):
    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape("synthetic frame lacks training column(s) ['x']")
    ):
        tstr_utility(train, holdout, train.drop(columns="x"), "label")


def test_utility_result_round_trips_through_json(train, holdout):
    # Setup
    result = tstr_utility(train, holdout, train, "label")

    # Run
    again = UtilityResult.model_validate_json(result.model_dump_json())

    # Assert
    assert again == result
