"""SDV metadata for one table: detected from the data, with per-column overrides from the job.

Both generators (SDV synthesizers) and validators (SDMetrics reports) need the same metadata, so it
is built in one place.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from synthpipe.errors import ConfigError

if TYPE_CHECKING:
    from sdv.metadata import Metadata

TABLE_NAME = "table"
SDTYPES = ("categorical", "ordinal", "numerical", "datetime", "boolean", "id")


def detect_metadata(
    frame: pd.DataFrame, column_sdtypes: Mapping[str, str] | None = None
) -> Metadata:
    """Detect SDV metadata for `frame`, then apply `column_sdtypes` overrides.

    No primary key is kept: synthetic rows are samples, not records to join on, and SDV would
    otherwise generate key columns instead of learning their distribution.
    """
    from sdv.metadata import Metadata

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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = Metadata.detect_from_dataframes({TABLE_NAME: frame})
    table = metadata.tables[TABLE_NAME]
    if table.primary_key is not None:
        metadata.remove_primary_key(table_name=TABLE_NAME)
    for column, sdtype in overrides.items():
        metadata.update_column(column_name=column, sdtype=sdtype, table_name=TABLE_NAME)
    for column, spec in metadata.to_dict()["tables"][TABLE_NAME]["columns"].items():
        # Detected ids (e.g. an integer column with all-distinct values) become numbers to learn.
        if spec["sdtype"] == "id" and column not in overrides:
            metadata.update_column(column_name=column, sdtype="numerical", table_name=TABLE_NAME)
    return metadata


def metadata_dict(metadata: Metadata) -> dict:
    """The single-table dict that SDMetrics reports take."""
    return metadata.to_dict()["tables"][TABLE_NAME]
