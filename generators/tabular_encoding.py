"""Column encodings shared by the native tabular generators (`argn`, `tabddpm`).

Each column becomes one or more *sub-columns*, in two views of the same fitted state:

- **tokens** (autoregressive models): small integer codes, one per sub-column;
- **mixed** (diffusion models): continuous positions in (0, 1) plus categorical codes.

Per column kind:

- **categorical** (strings, booleans, `category`): one token per value seen at least
  `rare_min_count` times; rarer values share one protected `<rare>` token that never decodes to a
  rare value (one person's value would leak) but to a frequent value drawn by its count (MOSTLY
  AI's "sample" replacement), or to `RARE_LABEL` in a text column with no frequent value; a
  missing value has its own token.
- **numeric**: the column's quantile function, cut into at most `bins` bins over *distinct*
  values: a value holding at least 1/bins of the rows (a point mass such as an exact zero) gets a
  bin of its own, and a column with at most `bins` distinct values gets one bin per value. Tokens
  are the bin plus, for bins holding several values, the position inside the bin on a grid of
  `subdivisions` steps; decoding interpolates between the bin's quantile knots and rounds to the
  column's decimals, so exact zeros, integers and rounding survive. The mixed view is the position
  u in the whole quantile function (ties spread uniformly at random), plus a missing flag; for a
  *discrete* column (at most `discrete_share` distinct values per row, e.g. a survey score with
  a few dozen levels) u is spread over each observed value's empirical-CDF interval and decodes
  back to an observed value, never to one interpolated between knots. With `protect_extremes`,
  values beyond the `rare_min_count`-th smallest / largest are clipped to them first, so no
  decoded value reveals one person's minimum or maximum.
- **datetime**: parts: year and time of day (numeric), month and day (categorical).

The fitted state is plain JSON (`to_state` / `TableEncoding.from_state`): no pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from core.errors import DataError

ColumnKind = Literal["categorical", "numeric", "datetime"]
MAX_DECIMALS = 8
RARE_LABEL = "_RARE_"  # a protected rare value of a text column that has no frequent value
EDGE = 1e-6  # margin inside a bin for positions in the mixed view


class ColumnEncoding(Protocol):
    """One column's encoding: its token and mixed views and their inverses."""

    column: str

    def token_cardinalities(self) -> list[int]: ...

    def token_levels(self) -> list[list[float]]: ...

    def encode_tokens(self, values: pd.Series) -> np.ndarray: ...

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series: ...

    def token_coordinates(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def continuous_count(self) -> int: ...

    def mixed_cardinalities(self) -> list[int]: ...

    def encode_mixed(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def decode_mixed(
        self, continuous: np.ndarray, codes: np.ndarray, rng: np.random.Generator
    ) -> pd.Series: ...

    def to_state(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EncodingSettings:
    """How columns are cut into tokens (the generators' `numeric_bins`, ... parameters)."""

    bins: int = 32
    subdivisions: int = 16
    rare_min_count: int = 5
    # Numeric columns with at most this share of distinct values per non-missing row keep their
    # observed values in the mixed view (None: none do); see NumericEncoding.support.
    discrete_share: float | None = None
    protect_extremes: bool = False  # clip numbers to the rare_min_count-th smallest / largest


# ---- categorical --------------------------------------------------------------------------------
@dataclass
class CategoricalEncoding:
    """Frequent values as tokens, rare values behind one protected token, missing as a token.

    Codes: `0..len(values)-1` the frequent values (seen `counts` times), then `<rare>` (if any),
    then missing (if any). `rare_values` are kept to encode them, never decoded.
    """

    column: str
    dtype: str
    values: list[Any]
    counts: list[int]
    rare_values: list[Any]
    has_missing: bool
    categories: list[Any] | None = None  # the declared categories of a `category` column

    @classmethod
    def fit(cls, values: pd.Series, settings: EncodingSettings) -> CategoricalEncoding:
        counts = values.dropna().value_counts(sort=False)
        frequent = counts[counts >= settings.rare_min_count]
        rare = counts[counts < settings.rare_min_count]
        declared = None
        if isinstance(values.dtype, pd.CategoricalDtype):
            declared = [_json_value(values.name, v) for v in values.dtype.categories]
        return cls(
            column=str(values.name),
            dtype=str(values.dtype),
            values=_sorted_values(values.name, frequent.index),
            counts=[int(frequent[v]) for v in _sorted_raw(frequent.index)],
            rare_values=_sorted_values(values.name, rare.index),
            has_missing=bool(values.isna().any()),
            categories=declared,
        )

    @property
    def rare_code(self) -> int | None:
        return len(self.values) if self.rare_values else None

    @property
    def missing_code(self) -> int | None:
        return len(self.values) + bool(self.rare_values) if self.has_missing else None

    def cardinality(self) -> int:
        return len(self.values) + bool(self.rare_values) + self.has_missing

    def encode(self, values: pd.Series) -> np.ndarray:
        """Codes `(N,)`; a value never seen in training is a DataError naming it."""
        lookup = {v: i for i, v in enumerate(self.values)}
        lookup |= {v: self.rare_code for v in self.rare_values}
        missing = values.isna().to_numpy()
        if missing.any() and self.missing_code is None:
            raise _missing_error(self.column)
        codes = values.astype(object).map(lookup)
        unseen = codes.isna().to_numpy() & ~missing
        if unseen.any():
            examples = sorted({str(v) for v in values[unseen]})[:5]
            raise DataError(
                f"Column {self.column!r} has values the model never saw in training: {examples}; "
                f"use values from the training data (e.g. {self.values[:5]})."
            )
        codes = codes.to_numpy(dtype=float, na_value=np.nan)
        if self.missing_code is not None:
            codes[missing] = self.missing_code
        return codes.astype(np.int64)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        out = np.empty(len(codes), dtype=object)
        frequent = codes < len(self.values)
        table = np.empty(len(self.values), dtype=object)
        table[:] = self.values
        out[frequent] = table[codes[frequent]]
        if self.rare_code is not None:
            rare = codes == self.rare_code
            out[rare] = self._rare_replacements(int(rare.sum()), table, rng)
        if self.missing_code is not None:
            out[codes == self.missing_code] = None
        return self._restore(pd.Series(out, name=self.column))

    def _rare_replacements(
        self, n: int, frequent: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """What `n` protected `<rare>` tokens decode to: frequent values drawn by their counts;
        with none, RARE_LABEL in a text column and missing otherwise (no other value is safe)."""
        if len(frequent):
            counts = np.asarray(self.counts, dtype=float)
            return frequent[rng.choice(len(frequent), size=n, p=counts / counts.sum())]
        return np.full(n, RARE_LABEL if self.dtype == "object" else None, dtype=object)

    def _restore(self, series: pd.Series) -> pd.Series:
        if self.categories is not None:
            return series.astype(pd.CategoricalDtype(self.categories))
        if self.dtype == "bool" and not series.isna().any():
            return series.astype(bool)
        if self.dtype in ("object", "bool"):
            return series
        return series.astype(self.dtype)

    # ColumnEncoding views: one token / one categorical code.
    def token_cardinalities(self) -> list[int]:
        return [self.cardinality()]

    def token_levels(self) -> list[list[float]]:
        return [[0.0] * self.cardinality()]  # unordered

    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        return self.encode(values)[:, None]  # (N, 1)

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.decode(tokens[:, 0], rng)

    def token_coordinates(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(tokens), 0)), tokens[:, :1]  # unordered: the code itself

    def continuous_count(self) -> int:
        return 0

    def mixed_cardinalities(self) -> list[int]:
        return [self.cardinality()]

    def encode_mixed(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(values), 0)), self.encode_tokens(values)

    def decode_mixed(
        self, continuous: np.ndarray, codes: np.ndarray, rng: np.random.Generator
    ) -> pd.Series:
        return self.decode_tokens(codes, rng)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "categorical", **self.__dict__}


# ---- numeric ------------------------------------------------------------------------------------
@dataclass
class NumericEncoding:
    """A column's quantile function as bins of quantile knots (see the module docstring).

    `knots[b]` holds `subdivisions + 1` quantiles of the values in bin b (all equal for a point
    mass); `shares[b]` is the bin's fraction of the non-missing rows. Bins cover increasing,
    disjoint value ranges, so the flattened knots are non-decreasing.
    """

    column: str
    dtype: str
    decimals: int | None
    knots: list[list[float]]
    shares: list[float]
    has_missing: bool
    # A discrete column's observed values and their cumulative shares (the empirical CDF):
    # the mixed view then spreads each value over its own CDF interval and decodes a position
    # back to the value whose interval holds it, so no value outside the observed support is
    # made up between knots. None for columns with many distinct values.
    support: list[float] | None = None
    support_cdf: list[float] | None = None

    @classmethod
    def fit(cls, values: pd.Series, settings: EncodingSettings) -> NumericEncoding:
        present = values.dropna().to_numpy(dtype=float)
        if not np.isfinite(present).all():
            raise DataError(
                f"Column {values.name!r} holds infinite values; replace them with numbers or "
                "missing values before fitting."
            )
        if settings.protect_extremes:
            present = _clip_extremes(present, settings.rare_min_count)
        distinct, counts = np.unique(present, return_counts=True)
        bins = settings.bins
        if len(distinct) <= bins:
            bin_of_value = np.arange(len(distinct))  # one bin per value: exact, no position
            subdivisions = 1
        else:
            # A value holding at least one bin's share of the rows (a point mass such as an
            # exact zero) gets a bin of its own, so it decodes exactly; the other values share
            # the bins by their quantiles.
            heavy = counts * bins >= len(present)
            light = np.where(heavy, 0, counts)
            before = np.cumsum(light) - light
            quantile_bin = before * bins // max(int(light.sum()), 1)
            starts = np.ones(len(distinct), dtype=bool)
            starts[1:] = (np.diff(quantile_bin) > 0) | heavy[1:] | heavy[:-1]
            bin_of_value = np.cumsum(starts) - 1
            subdivisions = settings.subdivisions
        sorted_values = np.repeat(distinct, counts)
        bin_of_row = np.repeat(bin_of_value, counts)
        levels = np.linspace(0.0, 1.0, subdivisions + 1)
        knots, shares = [], []
        for b in range(int(bin_of_value[-1]) + 1):
            members = sorted_values[bin_of_row == b]
            knots.append(np.quantile(members, levels).tolist())
            shares.append(len(members) / len(present))
        share = settings.discrete_share
        discrete = share is not None and len(distinct) <= share * len(present)
        return cls(
            column=str(values.name),
            dtype=str(values.dtype),
            decimals=_decimals(distinct),
            knots=knots,
            shares=shares,
            has_missing=bool(values.isna().any()),
            support=distinct.tolist() if discrete else None,
            support_cdf=(np.cumsum(counts) / len(present)).tolist() if discrete else None,
        )

    @property
    def subdivisions(self) -> int:
        return len(self.knots[0]) - 1

    @property
    def positioned(self) -> bool:
        """Whether tokens carry a within-bin position (not for one bin per distinct value)."""
        return self.subdivisions > 1

    def _grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        knots = np.asarray(self.knots)  # (B, S + 1)
        shares = np.asarray(self.shares)  # (B,)
        starts = np.concatenate([[0.0], np.cumsum(shares)[:-1]])  # (B,)
        return knots, shares, starts

    def locate(
        self, values: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bin `(N,)` and position in [0, 1] inside it `(N,)` of non-missing `values`.

        A value equal to several knots (a tie) sits in the middle of their span, or uniformly
        inside it when `rng` is given (dequantisation for continuous models).
        """
        knots, _, _ = self._grid()
        n_bins, width = knots.shape[0], knots.shape[1] - 1
        # Bins cover disjoint, increasing value ranges: a value belongs to the first bin whose
        # largest knot reaches it, and knots equal to it (a tie) all lie in that bin.
        bin_index = np.clip(np.searchsorted(knots[:, -1], values, side="left"), 0, n_bins - 1)
        flat = knots.ravel()
        row_start = bin_index * (width + 1)
        lo = np.searchsorted(flat, values, side="left")
        hi = np.searchsorted(flat, values, side="right")
        first, last = (lo - row_start).astype(float), (hi - 1 - row_start).astype(float)
        if rng is None:
            tie_position = (first + last) / 2
        else:
            tie_position = first + rng.random(len(values)) * (last - first)
        # Otherwise interpolate between the knots around the value (clamped to the bin's range).
        upper = np.clip(lo - row_start, 1, width)
        below, above = knots[bin_index, upper - 1], knots[bin_index, upper]
        gap = above - below
        fraction = np.divide(values - below, gap, out=np.zeros(len(values)), where=gap > 0)
        between = upper - 1 + np.clip(fraction, 0.0, 1.0)
        position = np.where(hi > lo, tie_position, between) / width
        return bin_index, position

    def value_at(self, bin_index: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Values `(N,)` at `position` in [0, 1] inside bins `bin_index`, rounded as in training."""
        knots, _, _ = self._grid()
        width = knots.shape[1] - 1
        scaled = np.clip(position, 0.0, 1.0) * width
        step = np.minimum(np.floor(scaled).astype(np.int64), max(width - 1, 0))
        lower = knots[bin_index, step]
        upper = knots[bin_index, np.minimum(step + 1, width)]
        values = lower + (scaled - step) * (upper - lower)
        return values if self.decimals is None else np.round(values, self.decimals)

    def _restore(self, values: np.ndarray) -> pd.Series:
        series = pd.Series(values, name=self.column)
        if self.dtype.startswith(("int", "uint")) and not series.isna().any():
            return series.astype(self.dtype)
        if self.dtype.startswith(("int", "uint")):
            return series.astype("Int64")
        return series.astype(self.dtype)

    # Token view: bin (with missing as the last token) and, for positioned bins, the grid step.
    def token_cardinalities(self) -> list[int]:
        cards = [len(self.knots) + self.has_missing]
        return [*cards, self.subdivisions] if self.positioned else cards

    def token_levels(self) -> list[list[float]]:
        _, shares, starts = self._grid()
        bins = (2 * (starts + shares / 2) - 1).tolist() + [0.0] * self.has_missing
        if not self.positioned:
            return [bins]
        steps = (2 * (np.arange(self.subdivisions) + 0.5) / self.subdivisions - 1).tolist()
        return [bins, steps]

    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(numbers)
        self._check_missing(missing)
        bin_index, position = self.locate(np.where(missing, self.knots[0][0], numbers), None)
        bin_index[missing] = len(self.knots)
        if not self.positioned:
            return bin_index[:, None]  # (N, 1)
        step = np.minimum((position * self.subdivisions).astype(np.int64), self.subdivisions - 1)
        step[missing] = 0
        return np.stack([bin_index, step], axis=1)  # (N, 2)

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        bin_index = tokens[:, 0]
        missing = bin_index >= len(self.knots)
        if self.positioned:
            position = (tokens[:, 1] + rng.random(len(tokens))) / self.subdivisions
        else:
            position = np.zeros(len(tokens))
        values = self.value_at(np.where(missing, 0, bin_index), position)
        return self._restore(np.where(missing, np.nan, values))

    def token_coordinates(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The position in the column's quantile function of each token row's value (the middle
        of its step), NaN when missing; no unordered part."""
        _, shares, starts = self._grid()
        bin_index = tokens[:, 0]
        missing = bin_index >= len(self.knots)
        inside = (tokens[:, 1] + 0.5) / self.subdivisions if self.positioned else 0.5
        safe = np.where(missing, 0, bin_index)
        uniform = starts[safe] + shares[safe] * inside
        return np.where(missing, np.nan, uniform)[:, None], np.zeros((len(tokens), 0), np.int64)

    # Mixed view: position u in the whole quantile function, plus a missing flag.
    def continuous_count(self) -> int:
        return 1

    def mixed_cardinalities(self) -> list[int]:
        return [2] if self.has_missing else []

    def encode_mixed(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(numbers)
        self._check_missing(missing)
        present = np.where(missing, self.knots[0][0], numbers)
        if self.support is not None:
            uniform = self._support_positions(present, rng)
        else:
            _, shares, starts = self._grid()
            bin_index, position = self.locate(present, rng)
            # Kept off the bin's edges so that u decodes into the same bin.
            position = np.clip(position, EDGE, 1.0 - EDGE)
            uniform = starts[bin_index] + shares[bin_index] * position
        # A missing value's position carries no information: draw it like any other.
        uniform = np.where(missing, rng.random(len(numbers)), uniform)
        codes = (
            missing.astype(np.int64)[:, None] if self.has_missing else np.zeros((len(values), 0))
        )
        return uniform[:, None], codes  # (N, 1), (N, 0 or 1)

    def decode_mixed(
        self, continuous: np.ndarray, codes: np.ndarray, rng: np.random.Generator
    ) -> pd.Series:
        uniform = np.clip(continuous[:, 0], 0.0, 1.0)
        if self.support is not None:
            cdf = np.asarray(self.support_cdf)
            index = np.minimum(np.searchsorted(cdf, uniform, side="right"), len(cdf) - 1)
            values = np.asarray(self.support)[index]
        else:
            _, shares, starts = self._grid()
            last = len(shares) - 1
            bin_index = np.clip(np.searchsorted(starts, uniform, side="right") - 1, 0, last)
            position = (uniform - starts[bin_index]) / shares[bin_index]
            values = self.value_at(bin_index, position)
        if self.has_missing:
            values = np.where(codes[:, 0] == 1, np.nan, values)
        return self._restore(values)

    def _support_positions(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Positions `(N,)` drawn uniformly inside each value's CDF interval (kept off its
        edges, so that they decode to the same value); a value outside the support takes the
        nearest support value's interval."""
        support, cdf = np.asarray(self.support), np.asarray(self.support_cdf)
        index = np.clip(np.searchsorted(support, values), 0, len(support) - 1)
        lower = np.maximum(index - 1, 0)
        nearer_lower = np.abs(values - support[lower]) < np.abs(values - support[index])
        index = np.where(nearer_lower, lower, index)
        low = np.concatenate([[0.0], cdf[:-1]])[index]
        width = cdf[index] - low
        return low + width * (EDGE + (1 - 2 * EDGE) * rng.random(len(values)))

    def _check_missing(self, missing: np.ndarray) -> None:
        if missing.any() and not self.has_missing:
            raise _missing_error(self.column)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "numeric", **self.__dict__}


# ---- datetime -----------------------------------------------------------------------------------
@dataclass
class DatetimeEncoding:
    """A datetime as parts: year and seconds of the day (numeric), month and day (categorical).

    The time of day is left out when every training value is at midnight.
    """

    column: str
    dtype: str
    parts: list[NumericEncoding | CategoricalEncoding]

    @classmethod
    def fit(cls, values: pd.Series, settings: EncodingSettings) -> DatetimeEncoding:
        frame = _datetime_parts(values)
        if not frame["seconds"].fillna(0).any():
            frame = frame.drop(columns="seconds")
        parts: list[NumericEncoding | CategoricalEncoding] = []
        for name, part in frame.items():
            kind = CategoricalEncoding if name in ("month", "day") else NumericEncoding
            parts.append(kind.fit(part, settings))
        return cls(column=str(values.name), dtype=str(values.dtype), parts=parts)

    def _split(self, values: pd.Series) -> list[pd.Series]:
        frame = _datetime_parts(values)
        return [frame[part.column] for part in self.parts]

    def _join(self, parts: list[pd.Series]) -> pd.Series:
        frame = pd.DataFrame({p.name: p.astype("float64") for p in parts})
        missing = frame.isna().any(axis=1).to_numpy()
        frame = frame.fillna({"year": 1970, "month": 1, "day": 1, "seconds": 0})
        months = ((frame["year"] - 1970) * 12 + frame["month"] - 1).to_numpy(np.int64)
        first = months.astype("datetime64[M]")
        days_in_month = (
            (first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")
        ).astype(np.int64)
        # A sampled day past the month's end (e.g. 31 February) moves to the month's last day.
        day = np.minimum(frame["day"].to_numpy(np.int64), days_in_month)
        stamps = first.astype("datetime64[ns]") + (day - 1).astype("timedelta64[D]")
        if "seconds" in frame:
            stamps = stamps + frame["seconds"].round().to_numpy(np.int64).astype("timedelta64[s]")
        stamps = pd.Series(stamps, name=self.column)
        stamps[missing] = pd.NaT
        dtype = pd.api.types.pandas_dtype(self.dtype)
        if isinstance(dtype, pd.DatetimeTZDtype):  # parts were taken in UTC
            return stamps.dt.tz_localize("UTC").dt.tz_convert(dtype.tz)
        return stamps.astype(dtype)

    def token_cardinalities(self) -> list[int]:
        return [c for part in self.parts for c in part.token_cardinalities()]

    def token_levels(self) -> list[list[float]]:
        return [levels for part in self.parts for levels in part.token_levels()]

    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        columns = [p.encode_tokens(s) for p, s in zip(self.parts, self._split(values), strict=True)]
        return np.concatenate(columns, axis=1)

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        sizes = [len(p.token_cardinalities()) for p in self.parts]
        chunks = _split_columns(tokens, sizes)
        return self._join(
            [p.decode_tokens(c, rng) for p, c in zip(self.parts, chunks, strict=True)]
        )

    def token_coordinates(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chunks = _split_columns(tokens, [len(p.token_cardinalities()) for p in self.parts])
        return _join_coordinates(
            [p.token_coordinates(c) for p, c in zip(self.parts, chunks, strict=True)]
        )

    def continuous_count(self) -> int:
        return sum(p.continuous_count() for p in self.parts)

    def mixed_cardinalities(self) -> list[int]:
        return [c for part in self.parts for c in part.mixed_cardinalities()]

    def encode_mixed(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        pairs = [
            p.encode_mixed(s, rng) for p, s in zip(self.parts, self._split(values), strict=True)
        ]
        return (
            np.concatenate([c for c, _ in pairs], axis=1),
            np.concatenate([k for _, k in pairs], axis=1),
        )

    def decode_mixed(
        self, continuous: np.ndarray, codes: np.ndarray, rng: np.random.Generator
    ) -> pd.Series:
        cont = _split_columns(continuous, [p.continuous_count() for p in self.parts])
        cats = _split_columns(codes, [len(p.mixed_cardinalities()) for p in self.parts])
        return self._join(
            [p.decode_mixed(c, k, rng) for p, c, k in zip(self.parts, cont, cats, strict=True)]
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": "datetime",
            "column": self.column,
            "dtype": self.dtype,
            "parts": [p.to_state() for p in self.parts],
        }


# ---- a whole table ------------------------------------------------------------------------------
class TableEncoding:
    """Every column's encoding, in model order; the sub-columns of column k follow column k-1's."""

    def __init__(self, columns: Sequence[ColumnEncoding]):
        self.columns = list(columns)

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, order: Sequence[str], settings: EncodingSettings
    ) -> TableEncoding:
        """Fit an encoding per column of `frame`, in `order` (e.g. conditioning columns first)."""
        encodings: list[ColumnEncoding] = []
        for name in order:
            values = frame[name]
            kind = column_kind(values)
            if kind == "datetime":
                encodings.append(DatetimeEncoding.fit(values, settings))
            elif kind == "numeric":
                encodings.append(NumericEncoding.fit(values, settings))
            else:
                encodings.append(CategoricalEncoding.fit(values, settings))
        return cls(encodings)

    @property
    def names(self) -> list[str]:
        return [c.column for c in self.columns]

    def split(self, count: int) -> tuple[TableEncoding, TableEncoding]:
        """The encodings of the first `count` columns and of the rest."""
        return TableEncoding(self.columns[:count]), TableEncoding(self.columns[count:])

    # token view
    def token_cardinalities(self) -> list[int]:
        """Vocabulary size of every token position, in order."""
        return [c for column in self.columns for c in column.token_cardinalities()]

    def token_levels(self) -> list[list[float]]:
        """Per token position, each value's place in [-1, 1] where values are ordered (numeric
        bins and within-bin steps), 0 where they are not (categories, missing)."""
        return [levels for column in self.columns for levels in column.token_levels()]

    def token_counts(self) -> list[int]:
        """How many token positions each column takes, in order."""
        return [len(c.token_cardinalities()) for c in self.columns]

    def encode_tokens(self, frame: pd.DataFrame) -> np.ndarray:
        """Tokens `(N, T)`, int64."""
        return np.concatenate([c.encode_tokens(frame[c.column]) for c in self.columns], axis=1)

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Rows from tokens `(N, T)`; columns in model order."""
        chunks = _split_columns(tokens, self.token_counts())
        return pd.DataFrame(
            {c.column: c.decode_tokens(t, rng) for c, t in zip(self.columns, chunks, strict=True)}
        )

    def token_coordinates(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where token rows `(N, T)` sit, for distances between rows (Gower-style, as in the
        privacy checks): positions in [0, 1] in each ordered column's quantile function `(N, K)`,
        NaN when missing, and codes of the unordered columns `(N, J)`."""
        chunks = _split_columns(tokens, self.token_counts())
        return _join_coordinates(
            [c.token_coordinates(t) for c, t in zip(self.columns, chunks, strict=True)]
        )

    # mixed view
    def continuous_count(self) -> int:
        return sum(c.continuous_count() for c in self.columns)

    def mixed_cardinalities(self) -> list[int]:
        """Number of classes of every categorical sub-column of the mixed view, in order."""
        return [k for c in self.columns for k in c.mixed_cardinalities()]

    def encode_mixed(
        self, frame: pd.DataFrame, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions in (0, 1) `(N, C)` (ties spread with `rng`) and codes `(N, K)`."""
        pairs = [c.encode_mixed(frame[c.column], rng) for c in self.columns]
        continuous = np.concatenate([p[0] for p in pairs], axis=1).astype(np.float64)
        codes = np.concatenate([p[1] for p in pairs], axis=1).astype(np.int64)
        return continuous, codes

    def decode_mixed(
        self, continuous: np.ndarray, codes: np.ndarray, rng: np.random.Generator
    ) -> pd.DataFrame:
        """Rows from positions `(N, C)` and codes `(N, K)`; columns in model order."""
        cont = _split_columns(continuous, [c.continuous_count() for c in self.columns])
        cats = _split_columns(codes, [len(c.mixed_cardinalities()) for c in self.columns])
        return pd.DataFrame(
            {
                c.column: c.decode_mixed(x, k, rng)
                for c, x, k in zip(self.columns, cont, cats, strict=True)
            }
        )

    # state
    def to_state(self) -> list[dict[str, Any]]:
        return [c.to_state() for c in self.columns]

    @classmethod
    def from_state(cls, state: list[dict[str, Any]]) -> TableEncoding:
        return cls([_column_from_state(s) for s in state])


def column_kind(values: pd.Series) -> ColumnKind:
    """How a column is encoded, from its dtype."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return "numeric"
    return "categorical"


def _column_from_state(state: dict[str, Any]) -> ColumnEncoding:
    fields = {k: v for k, v in state.items() if k != "kind"}
    if state["kind"] == "numeric":
        return NumericEncoding(**fields)
    if state["kind"] == "categorical":
        return CategoricalEncoding(**fields)
    fields["parts"] = [_column_from_state(p) for p in fields["parts"]]
    return DatetimeEncoding(**fields)


def _join_coordinates(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    ordered = np.concatenate([p[0] for p in pairs], axis=1).astype(np.float64)
    return ordered, np.concatenate([p[1] for p in pairs], axis=1).astype(np.int64)


def _split_columns(array: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """`array` `(N, sum(sizes))` cut into consecutive column blocks of `sizes`."""
    return np.split(array, np.cumsum(sizes)[:-1], axis=1)


def _datetime_parts(values: pd.Series) -> pd.DataFrame:
    stamps = values.dt.tz_convert(None) if values.dt.tz is not None else values
    midnight = stamps.dt.normalize()
    return pd.DataFrame(
        {
            "year": stamps.dt.year.astype("float64"),
            "month": stamps.dt.month.astype("Int64"),
            "day": stamps.dt.day.astype("Int64"),
            "seconds": (stamps - midnight).dt.total_seconds(),
        }
    )


def _clip_extremes(values: np.ndarray, count: int) -> np.ndarray:
    """`values` clipped to their `count`-th smallest and largest (unchanged when fewer than
    2 * count values), so that the range's ends are shared by at least `count` rows."""
    if count <= 1 or len(values) < 2 * count:
        return values
    ordered = np.partition(values, [count - 1, len(values) - count])
    return np.clip(values, ordered[count - 1], ordered[len(values) - count])


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimals that write every value exactly (None: more than MAX_DECIMALS)."""
    scale = np.maximum(np.abs(values), 1.0)
    for decimals in range(MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(values, decimals) - values) <= 1e-9 * scale):
            return decimals
    return None


def _missing_error(column: str) -> DataError:
    return DataError(
        f"Column {column!r} has missing values but had none in training; fill them or fit on "
        "data with missing values in this column."
    )


def _json_value(column: Any, value: Any) -> Any:
    """A category as a JSON-able Python value (numpy scalars unwrapped)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    raise DataError(
        f"Column {column!r} holds a {type(value).__name__} value ({value!r}); categorical columns "
        "need strings, numbers or booleans: cast the column, e.g. frame[col].astype(str)."
    )


def _sorted_raw(index: pd.Index) -> list[Any]:
    return sorted(index, key=lambda v: (type(v).__name__, v))


def _sorted_values(column: Any, index: pd.Index) -> list[Any]:
    return [_json_value(column, v) for v in _sorted_raw(index)]
