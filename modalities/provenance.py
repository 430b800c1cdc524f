"""The provenance columns every record of an augmented dataset carries, tables and images alike:

| column         | real record                          | synthetic record                       |
|----------------|--------------------------------------|----------------------------------------|
| `is_synthetic` | false                                | true                                   |
| `real_index`   | its row / image index in the source  | null                                   |
| `generator`    | null                                 | the generator's registry name          |
| `seed`         | null                                 | the seed of the shard that drew it     |
| `sample_index` | position in the version (real first) | position in the version                |
| `parent_index` | null                                 | a variation's real record (`real_index`) |
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import DataError

PROVENANCE_FIELDS = [
    pa.field("is_synthetic", pa.bool_()),
    pa.field("real_index", pa.int64()),
    pa.field("generator", pa.string()),
    pa.field("seed", pa.int64()),
    pa.field("sample_index", pa.int64()),
    pa.field("parent_index", pa.int64()),
]
PROVENANCE_COLUMNS = [f.name for f in PROVENANCE_FIELDS]
# `datasets` features of the provenance columns (image versions carry HF feature metadata).
HF_PROVENANCE = {
    "is_synthetic": {"dtype": "bool", "_type": "Value"},
    "real_index": {"dtype": "int64", "_type": "Value"},
    "generator": {"dtype": "string", "_type": "Value"},
}


def with_provenance(
    frame: pd.DataFrame,
    *,
    real_index: Sequence[int] | None,
    generator: str | None,
    seed: int | None,
    first_index: int,
    parent_index: Sequence[int] | None = None,
) -> pd.DataFrame:
    """`frame` plus the provenance columns: real records give `real_index`, synthetic ones
    `generator` and `seed`, variations of real records their parents' `parent_index`."""
    clash = [c for c in ("is_synthetic", "real_index", "generator") if c in frame.columns]
    if clash:
        raise DataError(
            f"The source has column(s) {clash}, which the augmented dataset uses for "
            "provenance; rename them in the source."
        )
    synthetic = real_index is None
    out = frame.copy()
    out["is_synthetic"] = synthetic
    out["real_index"] = pd.array(
        [None] * len(frame) if synthetic else list(real_index), dtype="Int64"
    )
    out["generator"] = pd.array([generator] * len(frame), dtype=object)
    out["seed"] = pd.array([seed] * len(frame), dtype="Int64")
    out["sample_index"] = np.arange(first_index, first_index + len(frame), dtype=np.int64)
    parents = [None] * len(frame) if parent_index is None else list(parent_index)
    out["parent_index"] = pd.array(parents, dtype="Int64")
    return out
