"""Does augmenting help? Train one classifier on the real training records and one on real +
synthetic, score both on the same untouched real holdout, over several classifier seeds.

For each seed both sides use the same model settings and seed, so the paired difference
(augmented - real-only) isolates what the synthetic records changed. The report gives each
metric's mean and standard deviation over seeds, for accuracy, macro-F1, balanced accuracy and
per class recall and F1. The spread reflects the classifier's randomness only (one synthetic
sample, one holdout); a deterministic model (logistic regression) has a spread of ~0.

A baseline answers whether the generator adds anything beyond re-weighting classes: the same
number of extra records per class drawn (seeded, with replacement) from the real training
records, i.e. plain random oversampling, scored the same way (`oversampling_baseline`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.errors import DataError
from core.metadata import key_columns
from validators.report import CheckResult, make_check
from validators.utility import _encode_features

Model = Literal["random_forest", "logistic_regression", "hist_gradient_boosting"]
METRICS = ("accuracy", "macro_f1", "balanced_accuracy")
CLASS_METRICS = ("recall", "f1")


class Spread(BaseModel):
    model_config = ConfigDict(frozen=True)

    mean: float
    std: float  # population std over seeds

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(mean=float(np.mean(values)), std=float(np.std(values)))

    def __str__(self) -> str:
        return f"{self.mean:+.3f} ± {self.std:.3f}"


class MetricUplift(BaseModel):
    """One metric on both sides, and their paired difference (augmented - real-only).

    In `UpliftReport.oversampling_baseline`, `augmented` is real + oversampled real records."""

    model_config = ConfigDict(frozen=True)

    real_only: Spread
    augmented: Spread
    difference: Spread
    per_seed_difference: list[float]


class UpliftReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: Model
    seeds: list[int]
    real_rows: int
    synthetic_rows: int
    holdout_rows: int
    class_counts: dict[str, dict[str, int]]  # "real" / "synthetic" / "holdout" -> class -> count
    metrics: dict[str, MetricUplift]  # accuracy, macro_f1, balanced_accuracy
    # The same metrics for real + randomly oversampled real records (in place of synthetic).
    oversampling_baseline: dict[str, MetricUplift]
    per_class: dict[str, dict[str, MetricUplift]]  # class -> recall / f1
    created_at: datetime

    def checks(self) -> list[CheckResult]:
        """Advisory `utility` checks (never gates): each metric's mean difference."""
        return [
            make_check(
                f"uplift.{name}",
                "utility",
                uplift.difference.mean,
                f"{self.model}: real-only {uplift.real_only.mean:.3f}, real+synthetic "
                f"{uplift.augmented.mean:.3f}, difference {uplift.difference} over "
                f"{len(self.seeds)} seeds on {self.holdout_rows} real holdout records",
                uplift.model_dump(),
            )
            for name, uplift in self.metrics.items()
        ]

    def to_markdown(self) -> str:
        lines = [
            f"## Augmentation uplift ({self.model}, {len(self.seeds)} seeds)",
            "",
            f"Trained on {self.real_rows} real records vs those + {self.synthetic_rows} "
            f"synthetic; scored on {self.holdout_rows} untouched real holdout records. "
            "Difference = augmented - real-only, mean ± std over seeds.",
            "",
            "| metric | real-only | real+synthetic | difference | oversampling difference |",
            "|---|---|---|---|---|",
        ]
        for name, uplift in self.metrics.items():
            lines.append(
                f"| {name} | {uplift.real_only.mean:.3f} ± {uplift.real_only.std:.3f} | "
                f"{uplift.augmented.mean:.3f} ± {uplift.augmented.std:.3f} | {uplift.difference} "
                f"| {self.oversampling_baseline[name].difference} |"
            )
        lines += [
            "",
            "| class | real / synthetic / holdout | recall difference | F1 difference |",
            "|---|---|---|---|",
        ]
        counts = self.class_counts
        for name, uplift in self.per_class.items():
            sizes = "/".join(str(counts[side].get(name, 0)) for side in counts)
            lines.append(
                f"| {name} | {sizes} | {uplift['recall'].difference} | {uplift['f1'].difference} |"
            )
        return "\n".join(lines) + "\n"


def measure_uplift(
    x_real: np.ndarray,
    y_real: np.ndarray,
    x_synthetic: np.ndarray,
    y_synthetic: np.ndarray,
    x_holdout: np.ndarray,
    y_holdout: np.ndarray,
    *,
    model: Model = "random_forest",
    seeds: int = 5,
    seed: int = 0,
    threads: int | None = 1,
) -> UpliftReport:
    """Score real-only against real + synthetic training on the real holdout, `seeds` times.

    Labels are compared as strings. `threads` caps OpenMP/BLAS threads (one by default: small
    models on a shared CPU run faster without spinning threads).
    """
    from threadpoolctl import threadpool_limits

    y_real, y_synthetic, y_holdout = (
        np.asarray(y, dtype=str) for y in (y_real, y_synthetic, y_holdout)
    )
    _check_shapes(x_real, y_real, x_synthetic, y_synthetic, x_holdout, y_holdout)
    classes = sorted(set(y_holdout) | set(y_real))
    x_augmented = np.concatenate([x_real, x_synthetic])
    y_augmented = np.concatenate([y_real, y_synthetic])
    picks = _oversample(y_real, y_synthetic, seed)
    x_oversampled = np.concatenate([x_real, x_real[picks]])
    y_oversampled = np.concatenate([y_real, y_real[picks]])
    seed_list = [seed + i for i in range(seeds)]
    scores: dict[str, list[dict[str, Any]]] = {"real_only": [], "augmented": [], "oversampled": []}
    sides = (
        ("real_only", x_real, y_real),
        ("augmented", x_augmented, y_augmented),
        ("oversampled", x_oversampled, y_oversampled),
    )
    with threadpool_limits(threads):
        for run_seed in seed_list:
            for side, x, y in sides:
                predicted = _classifier(model, run_seed).fit(x, y).predict(x_holdout)
                scores[side].append(_score(y_holdout, predicted, classes))
    return UpliftReport(
        model=model,
        seeds=seed_list,
        real_rows=len(y_real),
        synthetic_rows=len(y_synthetic),
        holdout_rows=len(y_holdout),
        class_counts={
            side: dict(sorted(Counter(y.tolist()).items()))
            for side, y in (("real", y_real), ("synthetic", y_synthetic), ("holdout", y_holdout))
        },
        metrics={name: _uplift(scores, lambda s, n=name: s[n]) for name in METRICS},
        oversampling_baseline={
            name: _uplift(scores, lambda s, n=name: s[n], against="oversampled") for name in METRICS
        },
        per_class={
            label: {
                metric: _uplift(scores, lambda s, m=metric, c=label: s[m][c])
                for metric in CLASS_METRICS
            }
            for label in classes
        },
        created_at=datetime.now(UTC),
    )


def table_matrices(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    label: str,
    column_sdtypes: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrices of three tables with one shared encoding (as the TSTR check uses); key
    columns (`core.metadata.key_columns`) are identifiers, not features."""
    keys = key_columns(train, column_sdtypes)
    features = [c for c in train.columns if c != label and c not in keys]
    if not features:
        raise DataError(f"The table has no feature columns besides the label {label!r}.")
    (x_train, x_synthetic, x_holdout), _ = _encode_features([train, synthetic, holdout], features)
    if np.isnan(np.concatenate([x_train, x_synthetic, x_holdout])).any():
        # Forests and logistic regression take no NaN: impute with the real training medians.
        medians = np.nan_to_num(np.nanmedian(x_train, axis=0))
        x_train, x_synthetic, x_holdout = (
            np.where(np.isnan(x), medians, x) for x in (x_train, x_synthetic, x_holdout)
        )
    return x_train, x_synthetic, x_holdout


def _classifier(model: Model, seed: int) -> Any:
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    if model == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))


def _score(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        precision_recall_fscore_support,
    )

    _, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(
            f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)
        ),
        "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
        "recall": dict(zip(classes, map(float, recall), strict=True)),
        "f1": dict(zip(classes, map(float, f1), strict=True)),
    }


def _oversample(y_real: np.ndarray, y_synthetic: np.ndarray, seed: int) -> np.ndarray:
    """Positions of real records drawn with replacement, as many per class as were synthesised
    (classes without real records are left out)."""
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(y_real == name), size=count)
        for name, count in sorted(Counter(y_synthetic.tolist()).items())
        if (y_real == name).any()
    ]
    return np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)


def _uplift(
    scores: dict[str, list[dict[str, Any]]], pick: Any, against: str = "augmented"
) -> MetricUplift:
    real = [pick(s) for s in scores["real_only"]]
    augmented = [pick(s) for s in scores[against]]
    difference = [a - r for a, r in zip(augmented, real, strict=True)]
    return MetricUplift(
        real_only=Spread.of(real),
        augmented=Spread.of(augmented),
        difference=Spread.of(difference),
        per_seed_difference=[round(d, 6) for d in difference],
    )


def _check_shapes(*arrays: np.ndarray) -> None:
    x_real, y_real, x_synthetic, y_synthetic, x_holdout, y_holdout = arrays
    for name, x, y in (
        ("real", x_real, y_real),
        ("synthetic", x_synthetic, y_synthetic),
        ("holdout", x_holdout, y_holdout),
    ):
        if x.ndim != 2 or len(x) != len(y):
            raise DataError(
                f"The {name} features must be a 2-D array with one row per label; got shape "
                f"{x.shape} for {len(y)} labels."
            )
        if x.shape[1] != x_real.shape[1]:
            raise DataError(
                f"The {name} features have {x.shape[1]} columns, the real ones {x_real.shape[1]}; "
                "encode all three the same way."
            )
    if len(set(y_real)) < 2:
        raise DataError(f"The real training labels hold a single class {sorted(set(y_real))}.")
    if len(y_holdout) == 0:
        raise DataError("The real holdout is empty; set source.holdout_fraction above 0.")
