"""Built-in sequential tables (statsmodels datasets, shipped with the package):

- `grunfeld` (220 x 5): Grunfeld's investment panel, 11 firms x 20 years (1935-1954);
  sequence key `firm`, order `year`, each step's `invest`, `value`, `capital`.
- `macrodata` (203 x 14): US quarterly macro series 1959Q1-2009Q3, one long series cut into one
  sequence per decade (`decade`, e.g. "1960s"; 6 sequences: 4 quarters of the 1950s, four of
  40, 39 of the 2000s) so a model sees more than one entity and lengths vary; order `period`
  (quarters since 1959Q1), `year` and `quarter` dropped (`period` holds them).

Each comes with its sequence key and order column (`SEQUENCE_BUILTINS`), the defaults of a
job's `source.sequence_key` / `sequence_index`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from core.errors import DataError


@dataclass(frozen=True)
class BuiltinSequences:
    load: Callable[[], pd.DataFrame]
    key: str
    index: str


def _grunfeld() -> pd.DataFrame:
    from statsmodels.datasets import grunfeld

    frame = grunfeld.load_pandas().data.copy()
    frame["year"] = frame["year"].astype(int)
    return frame[["firm", "year", "invest", "value", "capital"]]


def _macrodata() -> pd.DataFrame:
    from statsmodels.datasets import macrodata

    frame = macrodata.load_pandas().data.copy()
    year = frame["year"].astype(int)
    period = (year - 1959) * 4 + frame["quarter"].astype(int) - 1
    decade = (year // 10 * 10).map(lambda y: f"{y}s")
    rest = frame.drop(columns=["year", "quarter"])
    return pd.concat([decade.rename("decade"), period.rename("period"), rest], axis=1)


SEQUENCE_BUILTINS: dict[str, BuiltinSequences] = {
    "grunfeld": BuiltinSequences(_grunfeld, key="firm", index="year"),
    "macrodata": BuiltinSequences(_macrodata, key="decade", index="period"),
}


def builtin_sequences(name: str) -> BuiltinSequences:
    try:
        return SEQUENCE_BUILTINS[name]
    except KeyError:
        raise DataError(
            f"Unknown built-in sequential dataset {name!r}; available: {sorted(SEQUENCE_BUILTINS)}."
        ) from None
