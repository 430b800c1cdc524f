"""Per-column details of a synthetic table against its real source (the `columns.summary` check).

Numeric and datetime columns (`validators.privacy.ordered_values`) get min / max / mean / std /
null fraction on each side plus the synthetic share outside the real range; categorical columns
get their distinct counts, most frequent values, null fraction, the synthetic share of values
real never has, and the total variation distance between the two frequency tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from validators.privacy import ordered_values

TOP_VALUES = 5


def column_summaries(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """One JSON-able entry per column of `real` (every column must be in `synthetic`)."""
    summaries = {}
    for name in real.columns:
        real_values, synthetic_values = ordered_values(real[name]), None
        if real_values is not None:
            synthetic_values = ordered_values(synthetic[name])
        if real_values is not None and synthetic_values is not None:
            summaries[str(name)] = _numeric(real_values, synthetic_values)
        else:
            summaries[str(name)] = _categorical(real[name], synthetic[name])
    return summaries


def _numeric(real: np.ndarray, synthetic: np.ndarray) -> dict[str, Any]:
    low, high = np.nanmin(real), np.nanmax(real)
    present = synthetic[~np.isnan(synthetic)]
    outside = float(((present < low) | (present > high)).mean()) if len(present) else 0.0
    return {
        "kind": "numeric",
        "real": _stats(real),
        "synthetic": _stats(synthetic),
        "outside_real_range": outside,
    }


def _stats(values: np.ndarray) -> dict[str, float | None]:
    present = values[~np.isnan(values)]
    if not len(present):
        return {"min": None, "max": None, "mean": None, "std": None, "null_fraction": 1.0}
    return {
        "min": float(present.min()),
        "max": float(present.max()),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "null_fraction": float(1 - len(present) / len(values)),
    }


def _categorical(real: pd.Series, synthetic: pd.Series) -> dict[str, Any]:
    real_freq = real.astype(str).where(real.notna()).value_counts(normalize=True)
    synthetic_freq = synthetic.astype(str).where(synthetic.notna()).value_counts(normalize=True)
    joint = pd.concat([real_freq, synthetic_freq], axis=1).fillna(0.0)
    return {
        "kind": "categorical",
        "real": _frequencies(real, real_freq),
        "synthetic": _frequencies(synthetic, synthetic_freq),
        "unseen_fraction": float(synthetic_freq[~synthetic_freq.index.isin(real_freq.index)].sum()),
        "total_variation": float(0.5 * (joint.iloc[:, 0] - joint.iloc[:, 1]).abs().sum()),
    }


def _frequencies(values: pd.Series, freq: pd.Series) -> dict[str, Any]:
    return {
        "distinct": len(freq),
        "top": {str(k): float(v) for k, v in freq.head(TOP_VALUES).items()},
        "null_fraction": float(values.isna().mean()),
    }
