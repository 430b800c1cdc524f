"""Detection (C2ST, classifier two-sample test): can a classifier tell synthetic rows from real?

Equal-size seeded subsamples of real and synthetic rows (at most `max_rows` each) are labelled 0
and 1, and a scikit-learn `HistGradientBoostingClassifier` is scored by stratified, shuffled
k-fold cross-validated ROC AUC. 0.5 means indistinguishable; 1.0 means every synthetic row can
be told apart.

Features use the mixed-type encoding of the DCR privacy check (`validators.privacy.
GowerEncoding`, fitted on the real rows): numeric and datetime columns as their position in the
real empirical distribution (a monotone transform, which trees are invariant to), categorical
columns as codes over the real values, with missing values left missing and every value never
seen in the real rows as one extra "unseen" code. Categorical columns use HistGradientBoosting's
native categorical support up to 255 codes.

With a real holdout, the same test of real training rows against real holdout rows gives the
baseline (`baseline_auc`): what the classifier scores on two real samples of that size, i.e. the
test's noise floor.

An AUC far below 0.5 means copied rows: each copy's twin sits in another fold with the opposite
label, and the classifier learns to predict the wrong side. `detection.c2st_copies` (AUC >=
`detection_auc_min`) is therefore a gate even while the upper bound is advisory, and it needs no
holdout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.errors import DataError
from validators.privacy import GowerEncoding, _subsample
from validators.report import CheckResult, make_check
from validators.thresholds import Thresholds

MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit for native categorical features
MIN_ROWS = 10  # per side: fewer cannot fill the folds with both classes


class DetectionResult(BaseModel):
    """Cross-validated C2ST ROC AUC of synthetic vs real, with the real-vs-real baseline."""

    model_config = ConfigDict(frozen=True)

    auc: float
    auc_folds: list[float]
    baseline_auc: float | None
    baseline_rows_used: int
    rows_used: int  # per side
    folds: int
    seed: int


def c2st_detection(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    holdout: pd.DataFrame | None = None,
    max_rows: int = 10_000,
    folds: int = 5,
    seed: int = 0,
    threads: int | None = 1,
) -> DetectionResult:
    """C2ST ROC AUC of `synthetic` against `real` (columns are `real`'s); with `holdout`, also
    the baseline of `real` against `holdout`. `threads` caps OpenMP threads (see
    `validators.utility.tstr_utility` for why one is the default)."""
    from threadpoolctl import threadpool_limits

    columns = list(real.columns)
    lacking = [c for c in columns if c not in synthetic.columns]
    if lacking:
        raise DataError(f"The synthetic frame lacks real column(s) {lacking}.")
    rng = np.random.default_rng(seed)
    with threadpool_limits(threads):
        auc_folds, rows = _c2st(real[columns], synthetic[columns], max_rows, folds, seed, rng)
        baseline, baseline_rows = None, 0
        if holdout is not None and min(len(real), len(holdout)) >= MIN_ROWS:
            baseline_folds, baseline_rows = _c2st(
                real[columns], holdout[columns], max_rows, folds, seed, rng
            )
            baseline = float(np.mean(baseline_folds))
    return DetectionResult(
        auc=float(np.mean(auc_folds)),
        auc_folds=auc_folds,
        baseline_auc=baseline,
        baseline_rows_used=baseline_rows,
        rows_used=rows,
        folds=folds,
        seed=seed,
    )


def _c2st(
    first: pd.DataFrame,
    second: pd.DataFrame,
    max_rows: int,
    folds: int,
    seed: int,
    rng: np.random.Generator,
) -> tuple[list[float], int]:
    """Per-fold ROC AUC of telling `second` (label 1) from `first` (label 0), equal sizes."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    size = min(len(first), len(second), max_rows)
    if size < MIN_ROWS:
        raise DataError(
            f"Detection needs at least {MIN_ROWS} rows on each side; got {len(first)} real and "
            f"{len(second)} compared rows."
        )
    first, second = (_subsample(frame, size, rng) for frame in (first, second))
    encoder = GowerEncoding(first, list(first.columns))
    x, native = _features(encoder, pd.concat([first, second], ignore_index=True))
    y = np.repeat([0, 1], size)
    model = HistGradientBoostingClassifier(
        categorical_features=native, early_stopping=False, random_state=seed
    )
    splits = StratifiedKFold(n_splits=min(folds, size), shuffle=True, random_state=seed)
    scores = cross_val_score(model, x, y, cv=splits, scoring="roc_auc")
    return [float(s) for s in scores], size


def _features(encoder: GowerEncoding, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix `(N, C)` and its native-categorical mask."""
    columns, native = [], []
    for name, values in zip(encoder.columns, encoder.encode(frame), strict=True):
        if name in encoder.categories:
            unseen = len(encoder.categories[name])  # one code for every value real never has
            codes = np.where(values == -2, unseen, values).astype(float)
            columns.append(np.where(values == -1, np.nan, codes))
            native.append(unseen + 1 <= MAX_NATIVE_CATEGORIES)
        else:
            columns.append(values)
            native.append(False)
    return np.column_stack(columns), np.asarray(native, dtype=bool)


def detection_checks(result: DetectionResult, thresholds: Thresholds) -> list[CheckResult]:
    """`detection.c2st_auc` (AUC <= `detection_auc_max`; a gate when `detection_must_pass`) and
    the `detection.c2st_copies` gate (AUC >= `detection_auc_min`)."""
    baseline = (
        f"; real-vs-real baseline {result.baseline_auc:.3f} on {result.baseline_rows_used:,} "
        "rows per side"
        if result.baseline_auc is not None
        else "; no holdout, so no real-vs-real baseline"
    )
    return [
        make_check(
            "detection.c2st_auc",
            "detection",
            result.auc,
            f"C2ST ROC AUC {result.auc:.3f} (0.5 = indistinguishable), {result.folds}-fold, "
            f"{result.rows_used:,} rows per side{baseline}",
            result.model_dump(),
            limit=thresholds.detection_auc_max,
            comparison="<=",
            gate=thresholds.detection_must_pass,
            baseline=result.baseline_auc,
        ),
        make_check(
            "detection.c2st_copies",
            "detection",
            result.auc,
            f"C2ST ROC AUC {result.auc:.3f}: far below 0.5 means the classifier predicts the "
            "wrong side because synthetic rows are copies of real rows",
            limit=thresholds.detection_auc_min,
            baseline=result.baseline_auc,
        ),
    ]
