"""Frame preparation shared by the Great Expectations and SDMetrics checks."""

from __future__ import annotations

import numpy as np
import pandas as pd


def numpy_backed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every pandas extension dtype replaced by its NumPy / object equivalent.

    GX 1.x cannot type-check extension dtypes (a `category` column reports
    `CategoricalDtypeType`, `Int64`, `string[pyarrow]` and tz-aware datetimes match no type
    name), and SDMetrics warns on categoricals. Real and synthetic frames also often differ only
    in such representation (e.g. `category` in real, `object` from a generator), so both sides
    are compared as plain NumPy / object columns:

    - categorical, string, nullable boolean -> object holding the values (missing -> NaN/None)
    - nullable integer / float -> float64, whether or not values are missing, so the result
      does not depend on the data (SDMetrics' Data Structure compares dtypes)
    - tz-aware datetime -> naive UTC datetime64
    """
    columns = {}
    for name, column in frame.items():
        dtype = column.dtype
        if isinstance(dtype, np.dtype):
            columns[name] = column
        elif isinstance(dtype, pd.DatetimeTZDtype):
            columns[name] = column.dt.tz_convert(None)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            columns[name] = column.astype("float64")
        else:
            columns[name] = column.astype(object)
    return pd.DataFrame(columns, index=frame.index)


def shuffle_columns(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """`frame` with every column permuted independently: each column's values (and dtype) are
    kept, every association between columns is destroyed."""
    shuffled = {
        name: column.iloc[rng.permutation(len(column))].to_numpy() for name, column in frame.items()
    }
    return pd.DataFrame(shuffled, index=frame.index).astype(frame.dtypes.to_dict())
