"""The column encoding `argn` and `tabddpm` share: round trips keep exact zeros, integers,
rounding, missing values, dates and (protected) rare categories."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from generators.tabular_encoding import (
    RARE_LABEL,
    EncodingSettings,
    NumericEncoding,
    TableEncoding,
)

SETTINGS = EncodingSettings(bins=8, subdivisions=4, rare_min_count=3)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 400
    when = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D")
    return pd.DataFrame(
        {
            "amount": np.where(rng.random(rows) < 0.6, 0.0, np.round(rng.exponential(50, rows), 2)),
            "count": rng.integers(0, 200, rows),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "rare": [f"unique-{i}" if i % 40 == 0 else "usual" for i in range(rows)],
            "income": np.where(
                rng.random(rows) < 0.2, np.nan, np.round(rng.normal(50, 9, rows), 1)
            ),
            "when": pd.Series(when).where(rng.random(rows) > 0.1),
            "flag": rng.random(rows) < 0.3,
        }
    )


@pytest.fixture(scope="module")
def encoding(frame) -> TableEncoding:
    fitted = TableEncoding.fit(frame, list(frame.columns), SETTINGS)
    # Every test runs on an encoding that went through its JSON state.
    return TableEncoding.from_state(json.loads(json.dumps(fitted.to_state())))


def test_tokens_round_trip_keeps_zeros_integers_rounding_and_missing(frame, encoding):
    # Run
    back = encoding.decode_tokens(encoding.encode_tokens(frame), np.random.default_rng(1))

    # Assert
    assert list(back.dtypes) == list(frame.dtypes)
    pd.testing.assert_series_equal(back["amount"] == 0, frame["amount"] == 0)
    assert (back["amount"] == back["amount"].round(2)).all()
    assert (back["count"].between(0, 199)).all()
    pd.testing.assert_series_equal(back["income"].isna(), frame["income"].isna())
    assert (back["income"].dropna() == back["income"].dropna().round(1)).all()
    pd.testing.assert_series_equal(back["when"].isna(), frame["when"].isna())
    pd.testing.assert_series_equal(back["when"].dt.normalize(), back["when"])
    pd.testing.assert_frame_equal(back[["colour", "flag"]], frame[["colour", "flag"]])


def test_tokens_of_a_numeric_column_with_few_values_decode_exactly():
    # Setup
    values = pd.Series([0, 1, 1, 2, 5, 5, 5, 40] * 10, name="n")
    encoding = TableEncoding.fit(values.to_frame(), ["n"], SETTINGS)

    # Run
    back = encoding.decode_tokens(
        encoding.encode_tokens(values.to_frame()), np.random.default_rng(0)
    )

    # Assert
    assert encoding.token_cardinalities() == [5]  # one bin per value, no within-bin position
    pd.testing.assert_series_equal(back["n"], values)


def test_point_mass_gets_a_bin_of_its_own():
    # Setup
    values = pd.Series(np.r_[np.zeros(700), np.linspace(0.5, 99.5, 300)], name="x")

    # Run
    encoding = NumericEncoding.fit(values, SETTINGS)

    # Assert
    assert encoding.knots[0] == [0.0] * (SETTINGS.subdivisions + 1)
    assert encoding.shares[0] == pytest.approx(0.7)
    assert len(encoding.knots) == SETTINGS.bins + 1  # the zeros do not eat the other bins


def test_mixed_view_round_trip_is_exact_for_all_but_rare_values(frame, encoding):
    # Run
    continuous, codes = encoding.encode_mixed(frame, np.random.default_rng(2))
    back = encoding.decode_mixed(continuous, codes, np.random.default_rng(3))

    # Assert
    assert ((continuous > 0) & (continuous < 1)).all()
    pd.testing.assert_frame_equal(back.drop(columns="rare"), frame.drop(columns="rare"))


def test_rare_categories_share_one_token_that_never_decodes_to_a_rare_value(frame, encoding):
    # Setup
    rare = frame["rare"] != "usual"
    column = sum(encoding.token_counts()[: encoding.names.index("rare")])  # its token position
    tokens = encoding.encode_tokens(frame)

    # Run
    back = encoding.decode_tokens(tokens, np.random.default_rng(4))

    # Assert: the protected token stands for the rare values, and decodes to a frequent one
    rare_tokens = tokens[rare.to_numpy(), column]
    assert len(set(rare_tokens)) == 1
    assert (back["rare"] == "usual").all()


def test_rare_token_decodes_to_frequent_values_by_their_counts():
    # Setup: "a" 30 times, "b" 10 times, five values seen once or twice (rare below 3)
    values = ["a"] * 30 + ["b"] * 10 + ["r1", "r2", "r2", "r3", "r4"]
    column = pd.DataFrame({"c": values})
    encoding = TableEncoding.fit(column, ["c"], SETTINGS)
    rare_code = len(encoding.columns[0].values)

    # Run
    back = encoding.decode_tokens(np.full((4000, 1), rare_code), np.random.default_rng(0))

    # Assert
    assert set(back["c"]) == {"a", "b"}
    assert (back["c"] == "a").mean() == pytest.approx(0.75, abs=0.03)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([f"id-{i}" for i in range(50)], name="c"), RARE_LABEL),
        (pd.Series(np.arange(50) % 25, name="c", dtype="category"), None),
    ],
)
def test_column_whose_values_are_all_rare_decodes_to_no_training_value(values, expected):
    # Setup: every value seen fewer than rare_min_count times
    encoding = TableEncoding.fit(values.to_frame(), ["c"], SETTINGS)

    # Run
    back = encoding.decode_tokens(
        encoding.encode_tokens(values.to_frame()), np.random.default_rng(0)
    )

    # Assert
    assert encoding.token_cardinalities() == [1]
    if expected is None:
        assert back["c"].isna().all()
    else:
        assert (back["c"] == expected).all()


def test_protect_extremes_clips_numbers_to_the_kth_smallest_and_largest():
    # Setup: 100 distinct values; with rare_min_count 3 the range is the 3rd smallest / largest
    values = pd.DataFrame({"x": np.arange(100) * 1.5})
    settings = EncodingSettings(bins=8, subdivisions=4, rare_min_count=3, protect_extremes=True)
    protected = TableEncoding.fit(values, ["x"], settings)
    plain = TableEncoding.fit(values, ["x"], SETTINGS)
    tokens = protected.encode_tokens(values)

    # Run
    back = protected.decode_tokens(np.repeat(tokens, 20, axis=0), np.random.default_rng(0))

    # Assert
    assert back["x"].min() == 3.0 and back["x"].max() == 145.5
    assert plain.columns[0].knots[0][0] == 0.0 and plain.columns[0].knots[-1][-1] == 148.5


def test_token_coordinates_are_quantile_positions_and_codes(frame, encoding):
    # Run
    ordered, codes = encoding.token_coordinates(encoding.encode_tokens(frame))

    # Assert: one ordered coordinate per numeric column and numeric date part (year; every
    # time is midnight), one code per categorical column and categorical date part
    assert ordered.shape == (len(frame), 4) and codes.shape == (len(frame), 5)
    assert np.nanmin(ordered) >= 0 and np.nanmax(ordered) <= 1
    income = ordered[:, 2]
    assert (np.isnan(income) == frame["income"].isna().to_numpy()).all()
    present = ~np.isnan(income)
    # positions follow the values' order (up to their bin step)
    order = np.argsort(frame["income"].to_numpy()[present])
    assert (np.diff(income[present][order]) >= -1e-12).all()


def test_encode_unseen_category_raises_data_error_naming_it(encoding, frame):
    # Setup
    other = frame.assign(colour="purple")

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("Column 'colour' has values the model never")):
        encoding.encode_tokens(other)


def test_fit_infinite_numeric_values_raise_data_error():
    # Setup
    frame = pd.DataFrame({"x": [1.0, np.inf, 3.0]})

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("Column 'x' holds infinite values")):
        TableEncoding.fit(frame, ["x"], SETTINGS)
