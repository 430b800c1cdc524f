"""SDV metadata for one table: detected from the data, with per-column overrides from the job.

Both generators (SDV synthesizers) and validators (SDMetrics reports) need the same metadata, so it
is built in one place, and so is the decision which columns are keys (`key_columns`): every
generator regenerates keys instead of learning them, and the validators leave them out.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import ConfigError

if TYPE_CHECKING:
    from sdv.metadata import Metadata

TABLE_NAME = "table"
SDTYPES = ("categorical", "ordinal", "numerical", "datetime", "boolean", "id")
KEY_SDTYPE = "id"
# A key-like name ends in one of these words (snake_case, kebab, spaces or camelCase: `id`,
# `customer_id`, `CustomerID`, `orderKey`); `Unnamed: 0` is a pandas index written to CSV.
KEY_WORDS = frozenset({"id", "key", "uuid", "guid"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_INDEX_NAME = re.compile(r"^Unnamed: \d+$")
# Key-like content: one shared non-empty prefix and a number (`cust-000123`), or UUIDs.
NUMBERED_KEY = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$", re.DOTALL)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def key_columns(frame: pd.DataFrame, column_sdtypes: Mapping[str, str] | None = None) -> list[str]:
    """The key columns of `frame`, in column order: declared (`column_sdtypes` {col: "id"}) or
    detected.

    Detection is conservative: a column is a key when it has no missing values, a distinct value
    in every row, integers or strings, and a key-like name (`KEY_WORDS`, e.g. `customer_id`,
    `CustomerID`, or pandas' `Unnamed: 0`) or, for strings, key-like content (one shared prefix
    and a number such as `cust-000123`, or UUIDs). Any other sdtype in `column_sdtypes` keeps a
    column from being detected as a key.
    """
    overrides = _checked_overrides(frame, column_sdtypes)
    declared = {name for name, sdtype in overrides.items() if sdtype == KEY_SDTYPE}
    return [
        str(name)
        for name in frame.columns
        if name in declared or (name not in overrides and _is_key(name, frame[name]))
    ]


def detect_metadata(
    frame: pd.DataFrame, column_sdtypes: Mapping[str, str] | None = None
) -> Metadata:
    """Detect SDV metadata for `frame`, then apply `column_sdtypes` overrides.

    Key columns (`key_columns`) get sdtype `id`, which SDMetrics leaves out of its shape and pair
    scores. Other columns SDV calls `id` (a unique column, or a name such as `store_id` whatever
    its values) are features: numerical when numeric, categorical otherwise. No primary key is
    kept: synthetic rows are samples, not records to join on.
    """
    from sdv.metadata import Metadata

    overrides = _checked_overrides(frame, column_sdtypes)
    keys = set(key_columns(frame, overrides))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = Metadata.detect_from_dataframes({TABLE_NAME: frame})
    table = metadata.tables[TABLE_NAME]
    if table.primary_key is not None:
        metadata.remove_primary_key(table_name=TABLE_NAME)
    detected = metadata.to_dict()["tables"][TABLE_NAME]["columns"]
    for column in frame.columns:
        if column in overrides:
            sdtype = overrides[column]
        elif column in keys:
            sdtype = KEY_SDTYPE
        elif detected[column]["sdtype"] == KEY_SDTYPE:
            numeric = pd.api.types.is_numeric_dtype(frame[column].dtype)
            sdtype = "numerical" if numeric else "categorical"
        else:
            continue
        metadata.update_column(column_name=column, sdtype=sdtype, table_name=TABLE_NAME)
    return metadata


def metadata_dict(metadata: Metadata) -> dict:
    """The single-table dict that SDMetrics reports take."""
    return metadata.to_dict()["tables"][TABLE_NAME]


def _checked_overrides(
    frame: pd.DataFrame, column_sdtypes: Mapping[str, str] | None
) -> dict[str, str]:
    overrides = dict(column_sdtypes or {})
    unknown = sorted(set(overrides) - set(frame.columns))
    if unknown:
        raise ConfigError(
            f"column_sdtypes names columns not in the data: {unknown}. "
            f"Available columns: {list(frame.columns)}."
        )
    bad = {c: t for c, t in overrides.items() if t not in SDTYPES}
    if bad:
        raise ConfigError(f"column_sdtypes has unknown sdtypes {bad}; use one of {list(SDTYPES)}.")
    return overrides


def _is_key(name: object, values: pd.Series) -> bool:
    if len(values) < 2 or values.isna().any() or not values.is_unique:
        return False
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return _key_like_name(name)
    if not is_string_column(values):
        return False
    if _key_like_name(name):
        return True
    texts = values.astype(str)
    if texts.str.fullmatch(_UUID).all():
        return True
    prefixes = texts.str.extract(NUMBERED_KEY)["prefix"]
    return prefixes.notna().all() and prefixes.nunique() == 1 and prefixes.iloc[0] != ""


def _key_like_name(name: object) -> bool:
    """Whether a column name reads as a key: last word in `KEY_WORDS`, or `Unnamed: N`."""
    text = str(name)
    words = _WORDS.findall(text)
    return bool(_INDEX_NAME.match(text)) or (bool(words) and words[-1].lower() in KEY_WORDS)


def is_string_column(values: pd.Series) -> bool:
    """Whether every present value of `values` is a `str` (object, string or category dtype)."""
    dtype = values.dtype
    if not (pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)):
        return False
    return all(isinstance(value, str) for value in values.dropna())
