"""Checks of whole sequences (`core.sequences`), beside the table suite run on their rows:

- `sequence.length_ks`: KS statistic between the real and synthetic sequence lengths (gate);
- `sequence.lag1_autocorr_error`: per numeric step column, the mean lag-1 autocorrelation over
  entities, real vs synthetic; the largest absolute difference (gate);
- `sequence.step_marginals`: 1 - the mean KS statistic of each numeric column at each step
  position (step 0, 1, ... of every sequence) present in both (advisory);
- `sequence.detection_auc`: C2ST (`validators.detection`) on one row per entity (length, and per
  numeric column mean, std, first, last value and lag-1 autocorrelation) (advisory; not
  applicable below the detector's minimum number of entities on each side).

Their thresholds are the arguments below; a sequence job sets them in `validation:`
(`validators.thresholds.SequenceThresholds`: `sequence_length_ks_max`, `sequence_lag1_error_max`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from core.sequences import SequenceSpec, ordered
from validators.detection import MIN_ROWS, c2st_detection
from validators.report import CheckResult

LENGTH_KS_MAX = 0.5
LAG1_ERROR_MAX = 0.5


def step_columns(frame: pd.DataFrame, spec: SequenceSpec) -> list[str]:
    """The numeric columns each step carries (not the key, order or context)."""
    skip = {spec.key, spec.index, *spec.context}
    return [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]


def lag1_autocorrelation(frame: pd.DataFrame, spec: SequenceSpec) -> dict[str, float]:
    """Per step column, the mean over entities (of >= 3 steps, not constant) of corr(x_t, x_t-1)."""
    rows = ordered(frame, spec)
    groups = rows.groupby(spec.key, sort=False)
    out: dict[str, float] = {}
    for column in step_columns(rows, spec):
        values = [_lag1(series.to_numpy(float)) for _, series in groups[column]]
        finite = [v for v in values if np.isfinite(v)]
        out[column] = float(np.mean(finite)) if finite else float("nan")
    return out


def _lag1(x: np.ndarray) -> float:
    if len(x) < 3 or np.std(x[1:]) == 0 or np.std(x[:-1]) == 0:
        return float("nan")
    return float(np.corrcoef(x[1:], x[:-1])[0, 1])


def entity_features(frame: pd.DataFrame, spec: SequenceSpec) -> pd.DataFrame:
    """One row per entity: its length and, per step column, mean, std, first, last, lag-1."""
    rows = ordered(frame, spec)
    groups = rows.groupby(spec.key, sort=False)
    parts = [groups.size().rename("length")]
    for column in step_columns(rows, spec):
        series = groups[column]
        parts += [
            series.mean().rename(f"{column}.mean"),
            series.std(ddof=0).rename(f"{column}.std"),
            series.first().rename(f"{column}.first"),
            series.last().rename(f"{column}.last"),
            series.apply(lambda s: _lag1(s.to_numpy(float))).fillna(0.0).rename(f"{column}.lag1"),
        ]
    return pd.concat(parts, axis=1).reset_index(drop=True)


def sequence_checks(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    spec: SequenceSpec,
    *,
    expected: int | None = None,
    seed: int = 0,
    length_ks_max: float = LENGTH_KS_MAX,
    lag1_error_max: float = LAG1_ERROR_MAX,
) -> list[CheckResult]:
    """The sequence checks of `synthetic` against `real` (both sequential tables of `spec`);
    with `expected`, `sequence.count` gates the number of synthetic sequences."""
    counted = [] if expected is None else [_count_check(synthetic, spec, expected)]
    return [
        *counted,
        _length_check(real, synthetic, spec, length_ks_max),
        _lag1_check(real, synthetic, spec, lag1_error_max),
        _step_marginals(real, synthetic, spec),
        _detection(real, synthetic, spec, seed),
    ]


def _count_check(synthetic: pd.DataFrame, spec: SequenceSpec, expected: int) -> CheckResult:
    count = int(synthetic[spec.key].nunique())
    return CheckResult(
        name="sequence.count",
        category="schema",
        value=float(count),
        threshold=float(expected),
        comparison="==",
        passed=count == expected,
        detail=f"{count} synthetic sequences; the job asked for {expected}",
    )


def _length_check(
    real: pd.DataFrame, synthetic: pd.DataFrame, spec: SequenceSpec, ks_max: float
) -> CheckResult:
    real_lengths = real.groupby(spec.key).size().to_numpy()
    synthetic_lengths = synthetic.groupby(spec.key).size().to_numpy()
    statistic = float(ks_2samp(real_lengths, synthetic_lengths).statistic)
    return CheckResult(
        name="sequence.length_ks",
        category="fidelity",
        value=statistic,
        threshold=ks_max,
        comparison="<=",
        passed=statistic <= ks_max,
        detail=f"KS statistic of sequence lengths: real mean {real_lengths.mean():.1f}, "
        f"synthetic mean {synthetic_lengths.mean():.1f}",
        data={
            "real_sequences": len(real_lengths),
            "synthetic_sequences": len(synthetic_lengths),
            "real_mean_length": float(real_lengths.mean()),
            "synthetic_mean_length": float(synthetic_lengths.mean()),
        },
    )


def _lag1_check(
    real: pd.DataFrame, synthetic: pd.DataFrame, spec: SequenceSpec, error_max: float
) -> CheckResult:
    real_ac, synthetic_ac = (lag1_autocorrelation(f, spec) for f in (real, synthetic))
    # A column with no measurable autocorrelation on one side (all sequences constant or
    # shorter than 3 steps) counts as the largest error, so it cannot pass unseen.
    errors = {
        c: float(abs(real_ac[c] - synthetic_ac[c])) if np.isfinite(synthetic_ac[c]) else 2.0
        for c in real_ac
        if np.isfinite(real_ac[c])
    }
    worst = max(errors.values(), default=0.0)
    return CheckResult(
        name="sequence.lag1_autocorr_error",
        category="fidelity",
        value=worst,
        threshold=error_max,
        comparison="<=",
        passed=worst <= error_max,
        detail=f"largest |real - synthetic| mean lag-1 autocorrelation over {len(errors)} "
        "numeric step column(s)",
        data={"error": errors, "real": real_ac, "synthetic": synthetic_ac},
    )


def _step_marginals(real: pd.DataFrame, synthetic: pd.DataFrame, spec: SequenceSpec) -> CheckResult:
    real_rows, synthetic_rows = (
        ordered(f, spec).assign(_step=lambda d: d.groupby(spec.key, sort=False).cumcount())
        for f in (real, synthetic)
    )
    statistics = []
    for step in sorted(set(real_rows["_step"]) & set(synthetic_rows["_step"])):
        at_real = real_rows[real_rows["_step"] == step]
        at_synthetic = synthetic_rows[synthetic_rows["_step"] == step]
        for column in step_columns(real, spec):
            statistics.append(ks_2samp(at_real[column], at_synthetic[column]).statistic)
    score = float(1 - np.mean(statistics)) if statistics else float("nan")
    return CheckResult(
        name="sequence.step_marginals",
        category="fidelity",
        value=score,
        threshold=None,
        comparison=None,
        passed=True,
        gate=False,
        detail="1 - mean KS statistic per numeric column and step position",
        data={"pairs": len(statistics)},
    )


def _detection(
    real: pd.DataFrame, synthetic: pd.DataFrame, spec: SequenceSpec, seed: int
) -> CheckResult:
    real_x, synthetic_x = (entity_features(f, spec) for f in (real, synthetic))
    if min(len(real_x), len(synthetic_x)) < MIN_ROWS:
        return CheckResult(
            name="sequence.detection_auc",
            category="detection",
            value=None,
            threshold=None,
            comparison=None,
            passed=True,
            gate=False,
            detail=f"not applicable: needs {MIN_ROWS} sequences on each side; got "
            f"{len(real_x)} real and {len(synthetic_x)} synthetic",
        )
    result = c2st_detection(real_x, synthetic_x, seed=seed)
    return CheckResult(
        name="sequence.detection_auc",
        category="detection",
        value=result.auc,
        threshold=None,
        comparison=None,
        passed=True,
        gate=False,
        detail="C2ST ROC AUC on one feature row per sequence (0.5: indistinguishable)",
        data={"folds": result.auc_folds, "sequences_used": result.rows_used},
    )
