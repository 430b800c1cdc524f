"""Machine-learning utility: train on synthetic, test on real (TSTR) against train on real (TRTR).

One scikit-learn `HistGradientBoosting` model is trained on the synthetic rows and one on the real
training rows, with the same settings and seed; both are scored on the same real holdout. Close
scores (a ratio near 1) mean the synthetic rows keep what predicts the target.

Features are encoded identically for all three frames: categorical columns (strings, booleans,
`category`) as codes over the union of their values, with HistGradientBoosting's native
categorical support when they have at most 255 values (codes as numbers above that); datetimes as
seconds; missing values stay missing (HistGradientBoosting handles them).

Scores: binary classification -> ROC AUC (primary), accuracy and macro-F1; multiclass ->
accuracy (primary) and macro-F1; regression -> R².
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.errors import ConfigError, DataError
from validators.report import CheckResult, make_check
from validators.thresholds import Thresholds

Task = Literal["binary", "multiclass", "regression"]
MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit for native categorical features
REGRESSION_MIN_DISTINCT = 20  # a numeric target with fewer distinct values is a class label


class UtilityResult(BaseModel):
    """TSTR and TRTR scores on one real holdout; `ratio` = tstr / trtr of the primary metric."""

    model_config = ConfigDict(frozen=True)

    target: str
    task: Task
    metric: Literal["roc_auc", "accuracy", "r2"]
    tstr: float
    trtr: float
    ratio: float | None
    scores: dict[str, dict[str, float]]  # every metric: {"tstr": ..., "trtr": ...}
    train_rows: int
    synthetic_rows: int
    holdout_rows: int
    seed: int
    notes: list[str] = []


def tstr_utility(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    target: str,
    *,
    task: Task | None = None,
    seed: int = 0,
    threads: int | None = 1,
) -> UtilityResult:
    """Score models trained on `synthetic` (TSTR) and on `train` (TRTR) on the real `holdout`.

    `task` is inferred when omitted: a categorical target (or a numeric one with fewer than 20
    distinct values) is classification, binary with two classes; otherwise regression. Every
    frame must hold `target` and the training columns. `threads` caps HistGradientBoosting's
    OpenMP threads (None: all cores); one is the default because these models are small and
    OpenMP threads that spin on a shared CPU can make a fit a hundred times slower.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        return _tstr_utility(train, holdout, synthetic, target, task=task, seed=seed)


def _tstr_utility(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    target: str,
    *,
    task: Task | None,
    seed: int,
) -> UtilityResult:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    _check_frames(train, holdout, synthetic, target)
    task = task or _infer_task(train[target])
    if task == "binary" and holdout[target].nunique() != 2:
        raise DataError(
            f"A binary target needs both classes in the holdout; {target!r} has "
            f"{sorted(holdout[target].astype(str).unique())}."
        )
    features = [c for c in train.columns if c != target]
    if not features:
        raise DataError(f"train has no feature columns besides the target {target!r}.")
    encoded, categorical = _encode_features([train, holdout, synthetic], features)
    x_train, x_holdout, x_synthetic = encoded
    notes: list[str] = []
    scores: dict[str, dict[str, float]] = {}
    for side, x, y in (
        ("trtr", x_train, train[target]),
        ("tstr", x_synthetic, synthetic[target]),
    ):
        if task == "regression":
            model = HistGradientBoostingRegressor(
                categorical_features=categorical, random_state=seed
            )
            values = _score_regression(model, x, y, x_holdout, holdout[target])
        else:
            model = HistGradientBoostingClassifier(
                categorical_features=categorical, random_state=seed
            )
            values = _score_classification(
                model, x, y, x_holdout, holdout[target], task, notes, side
            )
        for metric, value in values.items():
            scores.setdefault(metric, {})[side] = value
    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task]
    tstr, trtr = scores[metric]["tstr"], scores[metric]["trtr"]
    return UtilityResult(
        target=target,
        task=task,
        metric=metric,
        tstr=tstr,
        trtr=trtr,
        ratio=tstr / trtr if trtr > 0 else None,
        scores=scores,
        train_rows=len(train),
        synthetic_rows=len(synthetic),
        holdout_rows=len(holdout),
        seed=seed,
        notes=notes,
    )


def _check_frames(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, target: str
) -> None:
    if target not in train.columns:
        raise ConfigError(f"target {target!r} is not a column of train; columns: {list(train)}.")
    for name, frame in (("holdout", holdout), ("synthetic", synthetic)):
        missing = [c for c in train.columns if c not in frame.columns]
        if missing:
            raise DataError(f"The {name} frame lacks training column(s) {missing}.")
        if frame[target].isna().all() or len(frame) == 0:
            raise DataError(f"The {name} frame has no {target!r} values to learn or score.")
    if train[target].isna().any() or holdout[target].isna().any():
        raise DataError(f"target {target!r} has missing values in the real data; drop those rows.")


def _infer_task(target: pd.Series) -> Task:
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    if numeric and target.nunique() >= REGRESSION_MIN_DISTINCT:
        return "regression"
    return "binary" if target.nunique() == 2 else "multiclass"


def _encode_features(
    frames: list[pd.DataFrame], features: list[str]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Feature matrices with one shared encoding, and the mask of native categorical features."""
    columns: list[list[np.ndarray]] = [[] for _ in frames]
    native = []
    for name in features:
        sample = frames[0][name]
        if pd.api.types.is_datetime64_any_dtype(sample.dtype):
            for out, frame in zip(columns, frames, strict=True):
                stamps = pd.to_datetime(frame[name])
                seconds = stamps.astype("int64").astype(float) / 1e9
                out.append(np.where(stamps.isna(), np.nan, seconds))
            native.append(False)
        elif pd.api.types.is_numeric_dtype(sample.dtype) and not pd.api.types.is_bool_dtype(
            sample.dtype
        ):
            for out, frame in zip(columns, frames, strict=True):
                out.append(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float))
            native.append(False)
        else:
            values = pd.concat([f[name] for f in frames]).dropna().astype(str).unique()
            categories = np.sort(values)
            for out, frame in zip(columns, frames, strict=True):
                strings = frame[name].astype(str).where(frame[name].notna())
                codes = pd.Categorical(strings, categories=categories).codes.astype(float)
                out.append(np.where(codes < 0, np.nan, codes))
            native.append(len(categories) <= MAX_NATIVE_CATEGORIES)
    return [np.column_stack(c) for c in columns], np.asarray(native, dtype=bool)


def _score_classification(
    model: Any,
    x: np.ndarray,
    y: pd.Series,
    x_test: np.ndarray,
    y_test: pd.Series,
    task: Task,
    notes: list[str],
    side: str,
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    keep = y.notna().to_numpy()
    x, y, y_test = x[keep], y[keep].astype(str), y_test.astype(str)
    labels = sorted(set(y_test))
    positive = labels[-1]  # binary: the later label in sort order is the positive class
    if y.nunique() < 2:
        # One class only: nothing to learn; score the constant prediction (AUC 0.5).
        notes.append(f"{side}: the training target has a single class ({y.iloc[0]!r})")
        predicted = np.full(len(y_test), y.iloc[0], dtype=object)
        positive_score = np.zeros(len(y_test))
    else:
        model.fit(x, y)
        predicted = model.predict(x_test)
        classes = list(model.classes_)
        positive_score = (
            model.predict_proba(x_test)[:, classes.index(positive)]
            if task == "binary" and positive in classes
            else np.zeros(len(y_test))
        )
    scores = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macro_f1": float(f1_score(y_test, predicted, average="macro", labels=labels)),
    }
    if task == "binary":
        scores["roc_auc"] = float(roc_auc_score(y_test == positive, positive_score))
    return scores


def _score_regression(
    model: Any, x: np.ndarray, y: pd.Series, x_test: np.ndarray, y_test: pd.Series
) -> dict[str, float]:
    from sklearn.metrics import r2_score

    keep = y.notna().to_numpy()
    model.fit(x[keep], y[keep].astype(float))
    return {"r2": float(r2_score(y_test.astype(float), model.predict(x_test)))}


def utility_check(result: UtilityResult, thresholds: Thresholds) -> CheckResult:
    """`utility.tstr_ratio`: TSTR / TRTR >= `utility_ratio_min`; not applicable (passes) when
    the model trained on real rows scores <= 0 itself (nothing to keep)."""
    scores = (
        f"TSTR {result.metric} {result.tstr:.3f} vs TRTR {result.trtr:.3f} "
        f"({result.task} target {result.target!r}, {result.holdout_rows:,} holdout rows)"
    )
    applicable = result.ratio is not None
    return make_check(
        "utility.tstr_ratio",
        "utility",
        result.ratio,
        scores if applicable else f"not applicable: TRTR <= 0; {scores}",
        result.model_dump(),
        limit=thresholds.utility_ratio_min,
        gate=thresholds.utility_must_pass,
        none_passes=True,
        baseline=1.0 if applicable else None,  # TRTR / TRTR: the real-trained model itself
    )
