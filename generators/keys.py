"""Key columns (`core.metadata.key_columns`): never learned, regenerated unique in samples.

A key identifies a real record; learning it would make it a category of one row each (or a
number to interpolate) and copy real identifiers into the output. Instead a `KeySpec` keeps only
the key's format, and `values(n, first_row)` numbers the rows of the whole output from one
sequence that starts after the largest real number, so:

- separately sampled shards (each given the position of its first row) never repeat a key;
- no synthetic key equals a real one.

Integer keys continue as integers. String keys that share one prefix and a number
(`cust-000123`) keep that prefix and zero-padding; other strings become `syn-000000`, ... with a
prefix that no real key starts with.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.errors import DataError
from core.metadata import NUMBERED_KEY, is_string_column

GENERIC_PREFIX = "syn"
GENERIC_WIDTH = 6


class KeySpec(BaseModel):
    """How one key column is regenerated: its kind and dtype, prefix, padding and first number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    kind: Literal["integer", "string"]
    dtype: str  # the real column's dtype name, which the generated column keeps
    start: int  # the number of the output's first row
    prefix: str = ""
    width: int = 0  # zero-padding of a string key's number (0: none)

    @classmethod
    def learn(cls, column: str, values: pd.Series) -> KeySpec:
        """The spec of key column `column` from its real `values` (integers or strings)."""
        present = values.dropna()
        dtype = str(values.dtype)
        if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
            start = int(present.max()) + 1 if len(present) else 0
            return cls(column=column, kind="integer", dtype=dtype, start=start)
        if not is_string_column(values):
            raise DataError(
                f"Key column {column!r} holds {dtype} values; a key (column_sdtypes 'id') must "
                "hold integers or strings. Declare another sdtype for it in column_sdtypes."
            )
        dtype = "string" if isinstance(values.dtype, pd.StringDtype) else "object"
        texts = present.astype(str)
        parts = texts.str.extract(NUMBERED_KEY)
        if len(texts) and parts["prefix"].notna().all() and parts["prefix"].nunique() == 1:
            widths = parts["number"].str.len()
            return cls(
                column=column,
                kind="string",
                dtype=dtype,
                start=max(int(number) for number in parts["number"]) + 1,
                prefix=str(parts["prefix"].iloc[0]),
                # Padded only when every real number is: "c7" and "c12" stay unpadded.
                width=int(widths.iloc[0]) if widths.nunique() == 1 else 0,
            )
        return cls(
            column=column,
            kind="string",
            dtype=dtype,
            start=0,
            prefix=_unused_prefix(texts),
            width=GENERIC_WIDTH,
        )

    def values(self, n: int, first_row: int = 0) -> pd.Series:
        """Keys of output rows `first_row` .. `first_row + n - 1` (unique across all rows)."""
        numbers = range(self.start + first_row, self.start + first_row + n)
        if self.kind == "integer":
            dtype = self._integer_dtype(numbers)
            return pd.Series(np.asarray(numbers, dtype=np.int64), dtype=dtype)
        return pd.Series([f"{self.prefix}{k:0{self.width}d}" for k in numbers], dtype=self.dtype)

    def _integer_dtype(self, numbers: range) -> str:
        # Keep the real dtype unless the new numbers outgrow it (e.g. int8 past 127).
        dtype = pd.api.types.pandas_dtype(self.dtype)
        limit = np.iinfo(getattr(dtype, "numpy_dtype", dtype)).max
        return self.dtype if not numbers or numbers[-1] <= limit else "int64"


def _unused_prefix(texts: pd.Series) -> str:
    """`syn-`, `syn1-`, ... : the first that no real key starts with, so none is reproduced."""
    candidates = (f"{GENERIC_PREFIX}{number or ''}-" for number in itertools.count())
    return next(prefix for prefix in candidates if not texts.str.startswith(prefix).any())
