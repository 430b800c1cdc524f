"""Key columns and SDV metadata: which columns are identifiers, and what the rest become."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.metadata import detect_metadata, key_columns, metadata_dict

ROWS = 60


def _table(**columns) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=ROWS), **columns})


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("customer_id", [f"c{i}" for i in range(ROWS)]),
        ("CustomerID", np.arange(ROWS) * 3),
        ("orderKey", [f"k{i:04d}" for i in range(ROWS)]),
        ("Unnamed: 0", np.arange(ROWS)),  # a pandas index written to CSV
        ("customer", [f"cust-{i:06d}" for i in range(ROWS)]),  # key-like content
        ("ref", [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(ROWS)]),  # UUIDs
    ],
)
def test_key_columns_detects_unique_keys_by_name_or_content(name, values):
    # Run
    keys = key_columns(_table(**{name: values}))

    # Assert
    assert keys == [name]


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("store_id", [f"s{i % 5}" for i in range(ROWS)]),  # repeats: a category
        ("paid", np.arange(ROWS)),  # unique integers without a key-like name
        ("weight_id", np.linspace(0, 1, ROWS)),  # floats are never keys
        ("label", [f"{chr(97 + i % 26)}{i}x" for i in range(ROWS)]),  # unique, no shared prefix
        ("user_id", [f"u{i}" for i in range(ROWS - 1)] + [None]),  # a missing value
    ],
)
def test_key_columns_leaves_features_alone(name, values):
    # Run
    keys = key_columns(_table(**{name: values}))

    # Assert
    assert keys == []


def test_key_columns_follows_declared_sdtypes():
    # Setup
    frame = _table(account=np.arange(ROWS), user_id=[f"u{i}" for i in range(ROWS)])

    # Run
    keys = key_columns(frame, {"account": "id", "user_id": "categorical"})

    # Assert
    assert keys == ["account"]
    with pytest.raises(ConfigError, match="not in the data: \\['acount'\\]"):
        key_columns(frame, {"acount": "id"})


def test_detect_metadata_gives_keys_id_and_other_unique_strings_categorical():
    # Setup: SDV calls any unique column an id; only real keys may stay one
    frame = _table(
        customer=[f"cust-{i:06d}" for i in range(ROWS)],
        comment=[f"{chr(97 + i % 26)}{i}x" for i in range(ROWS)],
        store_id=np.arange(ROWS) % 4,
    )

    # Run
    columns = metadata_dict(detect_metadata(frame))["columns"]

    # Assert
    assert columns["customer"]["sdtype"] == "id"
    assert columns["comment"]["sdtype"] == "categorical"
    assert columns["store_id"]["sdtype"] == "numerical"
