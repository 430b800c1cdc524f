"""Privacy by distance to closest record (DCR): do synthetic rows sit closer to the training rows
than new real rows do?

Distance (Gower-style, in [0, 1]): the mean over columns of a per-column term:

- numeric and datetime columns: the absolute difference of the values' positions in the training
  data's empirical distribution (rank / quantile scaling, so units and outliers do not matter);
- categorical columns (strings, booleans, `category`): 0 when equal, 1 otherwise;
- a missing value equals a missing value (0) and differs from any value (1).

Measures:

- `dcr_share`: how much more often a synthetic row's closest real record is a training row than a
  holdout row, per row of each set: with `s` the share of synthetic rows closer to a training row
  (`dcr_share_raw`; a tie counts at the rate expected without memorisation, T / (T + H)),
  `dcr_share = (s / T) / (s / T + (1 - s) / H)` for T training and H holdout rows used. About 0.5
  means the synthetic rows are no closer to the training rows than to unseen real rows; 1.0 means
  every synthetic row sits on a training row (memorisation). Comparing with all (up to
  `max_rows`) training rows rather than a holdout-sized subsample keeps a memorised copy of any
  training row visible; when training has more than `max_rows` rows, copies of unsampled rows
  count as unseen, so the share then understates memorisation (the exact-copy rate does not).
- `exact_copy_rate`: the share of synthetic rows equal to some training row in every column
  (against all training rows); compare with `holdout_exact_copy_rate`, the same for real holdout
  rows (duplicates that occur naturally, e.g. in all-categorical tables).
- `nndr_median`: the median ratio of the distances to the closest and second-closest training
  rows; near 0 means synthetic rows sit next to single training rows (outliers reproduced).
- The `holdout_*` fields give the real-vs-real reference: holdout rows measured against training.

Large inputs are subsampled with `seed` (at most `max_rows` rows per frame); the result records the
sizes used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.errors import DataError
from validators.report import CheckResult, make_check
from validators.thresholds import Thresholds

# What real rows the generator never saw score as `dcr_share`: size-balanced, a holdout row is as
# often closer to train as to itself, so the real-vs-real reference is 0.5 by construction.
HOLDOUT_DCR_SHARE = 0.5
PAIRS_PER_CHUNK = 4_000_000  # distance-matrix entries computed at once (bounds memory)


class PrivacyResult(BaseModel):
    """DCR share, exact copies and nearest-neighbour distances, with the holdout reference.

    `histogram` holds counts of closest-record distances over `histogram_edges` (what the report
    plots): `synthetic_to_train`, `synthetic_to_holdout` and `holdout_to_train`.
    """

    model_config = ConfigDict(frozen=True)

    dcr_share: float
    dcr_share_raw: float
    exact_copy_rate: float
    holdout_exact_copy_rate: float
    dcr_train_median: float
    dcr_holdout_median: float
    holdout_dcr_median: float
    nndr_median: float
    holdout_nndr_median: float
    synthetic_rows_used: int
    train_rows_used: int
    holdout_rows_used: int
    seed: int
    histogram_edges: list[float] = []
    histogram: dict[str, list[int]] = {}


HISTOGRAM_BINS = 30


def dcr_privacy(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    max_rows: int = 5_000,
    seed: int = 0,
) -> PrivacyResult:
    """Distance-to-closest-record measures of `synthetic` against real `train` rows, with real
    `holdout` rows (not used for fitting) as the reference; columns are `train`'s."""
    columns = list(train.columns)
    for name, frame in (("holdout", holdout), ("synthetic", synthetic)):
        lacking = [c for c in columns if c not in frame.columns]
        if lacking:
            raise DataError(f"The {name} frame lacks training column(s) {lacking}.")
    if min(len(train), len(holdout)) < 2 or len(synthetic) == 0:
        raise DataError(
            f"DCR needs at least 2 training and 2 holdout rows and 1 synthetic row; got "
            f"{len(train)}, {len(holdout)} and {len(synthetic)}."
        )
    rng = np.random.default_rng(seed)
    train_part = _subsample(train, max_rows, rng)
    holdout_part = _subsample(holdout, max_rows, rng)
    synthetic_part = _subsample(synthetic, max_rows, rng)

    encoder = GowerEncoding(train, columns)
    train_enc, holdout_enc, synthetic_enc = (
        encoder.encode(f[columns]) for f in (train_part, holdout_part, synthetic_part)
    )
    to_train = _two_nearest(synthetic_enc, train_enc)  # (S, 2)
    to_holdout = _two_nearest(synthetic_enc, holdout_enc)[:, 0]  # (S,)
    holdout_to_train = _two_nearest(holdout_enc, train_enc)  # (H, 2)
    sizes = len(train_part), len(holdout_part)
    expected = sizes[0] / sum(sizes)  # share closer to train when rows are fresh real rows
    raw = (to_train[:, 0] < to_holdout).mean() + expected * (to_train[:, 0] == to_holdout).mean()
    top = max(to_train[:, 0].max(), to_holdout.max(), holdout_to_train[:, 0].max(), 1e-9)
    edges = np.linspace(0.0, top, HISTOGRAM_BINS + 1)

    train_keys = _row_keys(train[columns])
    return PrivacyResult(
        dcr_share=_balanced_share(float(raw), *sizes),
        dcr_share_raw=float(raw),
        exact_copy_rate=float(np.isin(_row_keys(synthetic[columns]), train_keys).mean()),
        holdout_exact_copy_rate=float(np.isin(_row_keys(holdout[columns]), train_keys).mean()),
        dcr_train_median=float(np.median(to_train[:, 0])),
        dcr_holdout_median=float(np.median(to_holdout)),
        holdout_dcr_median=float(np.median(holdout_to_train[:, 0])),
        nndr_median=_nndr(to_train),
        holdout_nndr_median=_nndr(holdout_to_train),
        synthetic_rows_used=len(synthetic_part),
        train_rows_used=len(train_part),
        holdout_rows_used=len(holdout_part),
        seed=seed,
        histogram_edges=edges.tolist(),
        histogram={
            name: np.histogram(distances, edges)[0].tolist()
            for name, distances in (
                ("synthetic_to_train", to_train[:, 0]),
                ("synthetic_to_holdout", to_holdout),
                ("holdout_to_train", holdout_to_train[:, 0]),
            )
        },
    )


def _balanced_share(raw: float, train_rows: int, holdout_rows: int) -> float:
    """The share closer to train re-weighted per row of each set (0.5 without memorisation)."""
    per_train, per_holdout = raw / train_rows, (1.0 - raw) / holdout_rows
    return per_train / (per_train + per_holdout)


class GowerEncoding:
    """Per-column arrays on which the Gower-style terms are computed (see the module docstring).

    Ordered columns become positions in [0, 1] in the training data's empirical distribution (NaN
    when missing); categorical columns become codes over the training values (-1 for missing,
    -2 for a value absent from training).
    """

    def __init__(self, train: pd.DataFrame, columns: list[str]):
        self.columns = columns
        self.sorted: dict[str, np.ndarray] = {}
        self.categories: dict[str, dict[str, int]] = {}
        for name in columns:
            values = ordered_values(train[name])
            if values is None:
                present = train[name].dropna().astype(str).unique()
                self.categories[name] = {v: i for i, v in enumerate(sorted(present))}
            else:
                self.sorted[name] = np.sort(values[~np.isnan(values)])

    def encode(self, frame: pd.DataFrame) -> list[np.ndarray]:
        arrays = []
        for name in self.columns:
            if name in self.sorted:
                values = ordered_values(frame[name])
                if values is None:
                    raise DataError(f"Column {name!r} is numeric in train but not in this frame.")
                reference = self.sorted[name]
                # Mid-rank position: equal values get equal positions.
                rank = np.searchsorted(reference, values, "left") + np.searchsorted(
                    reference, values, "right"
                )
                arrays.append(np.where(np.isnan(values), np.nan, rank / (2 * len(reference))))
            else:
                lookup = self.categories[name]
                codes = frame[name].astype(str).map(lookup).fillna(-2).to_numpy(dtype=np.int64)
                arrays.append(np.where(frame[name].isna().to_numpy(), -1, codes))
        return arrays


def _two_nearest(query: list[np.ndarray], reference: list[np.ndarray]) -> np.ndarray:
    """Distances `(Q, 2)` from each query row to its closest and second-closest reference row."""
    rows, refs = len(query[0]), len(reference[0])
    chunk = max(1, PAIRS_PER_CHUNK // max(refs, 1))
    out = np.empty((rows, 2))
    for start in range(0, rows, chunk):
        stop = min(start + chunk, rows)
        total = np.zeros((stop - start, refs))  # (q, R)
        for q_column, r_column in zip(query, reference, strict=True):
            a, b = q_column[start:stop, None], r_column[None, :]
            if q_column.dtype.kind == "f":
                a_missing, b_missing = np.isnan(a), np.isnan(b)
                term = np.abs(a - b)
                term = np.where(a_missing | b_missing, (a_missing != b_missing).astype(float), term)
            else:
                term = (a != b).astype(float)
            total += term
        total /= len(query)
        if refs == 1:
            out[start:stop] = total[:, [0, 0]]
        else:
            out[start:stop] = np.partition(total, 1, axis=1)[:, :2]
    return out


def _nndr(distances: np.ndarray) -> float:
    ratio = np.divide(
        distances[:, 0], distances[:, 1], out=np.ones(len(distances)), where=distances[:, 1] > 0
    )
    return float(np.median(ratio))


def ordered_values(values: pd.Series) -> np.ndarray | None:
    """Numbers for numeric and datetime columns (NaN when missing); None for categorical ones."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values)
        return np.where(stamps.isna(), np.nan, stamps.astype("int64").astype(float))
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return None


def _row_keys(frame: pd.DataFrame) -> np.ndarray:
    """One hash per row over normalised values, so equal rows match across dtypes
    (e.g. `category` vs `object`, int vs float)."""
    normalised = {}
    for name, values in frame.items():
        ordered = ordered_values(values)
        if ordered is None:
            normalised[name] = values.astype(str).where(values.notna(), "\x00missing")
        else:
            normalised[name] = pd.Series(ordered, index=values.index)
    return pd.util.hash_pandas_object(pd.DataFrame(normalised), index=False).to_numpy()


def _subsample(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= size:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=size, replace=False))]


def privacy_checks(result: PrivacyResult, thresholds: Thresholds) -> list[CheckResult]:
    """`privacy.dcr_share` and `privacy.exact_copy_rate` (gates when `privacy_must_pass`) and the
    advisory `privacy.nndr`; the last two relative to the holdout's own values."""
    sizes = (
        f"{result.synthetic_rows_used:,} synthetic, {result.train_rows_used:,} training, "
        f"{result.holdout_rows_used:,} holdout rows"
    )
    copy_max = min(1.0, result.holdout_exact_copy_rate + thresholds.exact_copy_margin)
    nndr_min = max(0.0, result.holdout_nndr_median - thresholds.nndr_margin)
    gate = thresholds.privacy_must_pass
    return [
        make_check(
            "privacy.dcr_share",
            "privacy",
            result.dcr_share,
            f"size-balanced share closer to train {result.dcr_share:.3f} (0.5 = no "
            f"memorisation; raw {result.dcr_share_raw:.3f}); median DCR synthetic->train "
            f"{result.dcr_train_median:.3f}, holdout->train {result.holdout_dcr_median:.3f}; "
            + sizes,
            result.model_dump(),
            limit=thresholds.dcr_share_max,
            comparison="<=",
            gate=gate,
            baseline=HOLDOUT_DCR_SHARE,
        ),
        make_check(
            "privacy.exact_copy_rate",
            "privacy",
            result.exact_copy_rate,
            f"{result.exact_copy_rate:.2%} of synthetic rows equal a training row; real "
            f"holdout rows: {result.holdout_exact_copy_rate:.2%} (+ margin "
            f"{thresholds.exact_copy_margin})",
            {"holdout_exact_copy_rate": result.holdout_exact_copy_rate},
            limit=copy_max,
            comparison="<=",
            gate=gate,
            baseline=result.holdout_exact_copy_rate,
        ),
        make_check(
            "privacy.nndr",
            "privacy",
            result.nndr_median,
            f"median nearest/second-nearest training distance ratio "
            f"{result.nndr_median:.3f}; holdout rows {result.holdout_nndr_median:.3f} "
            f"(- margin {thresholds.nndr_margin}); advisory",
            limit=nndr_min,
            gate=False,
            baseline=result.holdout_nndr_median,
        ),
    ]
