"""The column encoding `argn` and `tabddpm` share: round trips keep exact zeros, integers,
rounding, missing values, dates and (protected) rare categories."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from generators.tabular_encoding import EncodingSettings, NumericEncoding, TableEncoding

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


def test_rare_categories_share_one_token_and_decode_from_the_rare_pool(frame, encoding):
    # Setup
    rare = frame["rare"] != "usual"
    column = sum(encoding.token_counts()[: encoding.names.index("rare")])  # its token position
    tokens = encoding.encode_tokens(frame)

    # Run
    back = encoding.decode_tokens(tokens, np.random.default_rng(4))

    # Assert
    rare_tokens = tokens[rare.to_numpy(), column]
    assert len(set(rare_tokens)) == 1
    assert set(back["rare"][rare]) <= set(frame["rare"][rare])
    assert (back["rare"][~rare] == "usual").all()


def test_column_with_a_value_per_row_is_all_rare_and_still_decodes():
    # Setup
    ids = pd.Series([f"id-{i}" for i in range(50)], name="id")
    encoding = TableEncoding.fit(ids.to_frame(), ["id"], SETTINGS)

    # Run
    back = encoding.decode_tokens(encoding.encode_tokens(ids.to_frame()), np.random.default_rng(0))

    # Assert
    assert encoding.token_cardinalities() == [1]
    assert set(back["id"]) <= set(ids)


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
