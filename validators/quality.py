"""SDMetrics fidelity and diagnostic scores as gate checks.

SDMetrics 0.32 scores SDV 2.0's `ordinal` sdtype itself (TVComplement for Column Shapes, discrete
for Column Pair Trends, CategoryAdherence for Data Validity), so the detected metadata is passed
through unchanged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.metadata import TABLE_NAME, detect_metadata, metadata_dict
from validators._frames import numpy_backed, shuffle_columns
from validators.report import Category, CheckResult, make_check
from validators.thresholds import Thresholds

LOWEST_SHOWN = 3
# Below this gain of the holdout's Column Pair Trends over shuffled columns, the real table has no
# association to keep (e.g. independent columns), so the retained share would divide noise by noise.
MIN_ASSOCIATION = 0.02


def sdmetrics_checks(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    thresholds: Thresholds,
    column_sdtypes: Mapping[str, str] | None = None,
    *,
    fidelity_real: pd.DataFrame | None = None,
    holdout: pd.DataFrame | None = None,
) -> list[CheckResult]:
    """Quality (overall, Column Shapes, Column Pair Trends) and diagnostic (Data Validity, Data
    Structure) checks of `synthetic` against `real`, with per-column scores in `data`. With real
    `holdout` rows, the quality scores get a `baseline`: the same scores of the holdout.

    `fidelity_real` (default `real`) is what the quality scores compare with, e.g. the real rows
    meeting a conditional job's conditions; the diagnostic keeps `real` as the valid domain.

    Scores every row given: sampling is the caller's job. `synthetic` must hold every column of
    `real`; extra columns and differing dtypes lower Data Structure and are named in its detail.
    Extension dtypes are compared as their NumPy / object equivalent (`numpy_backed`). Metadata
    comes from `core.metadata.detect_metadata(real, column_sdtypes)`. A metric SDMetrics
    cannot compute for a column is left out of its average (SDMetrics' rule) and named, with the
    error, in the check's detail and per-column `data` entry.
    """
    from sdmetrics.reports import DiagnosticReport, QualityReport

    real, synthetic = numpy_backed(real), numpy_backed(synthetic)
    fidelity_real = real if fidelity_real is None else numpy_backed(fidelity_real)
    metadata = {"tables": {TABLE_NAME: metadata_dict(detect_metadata(real, column_sdtypes))}}
    quality, diagnostic = QualityReport(), DiagnosticReport()
    with warnings.catch_warnings():
        # SDMetrics' own pandas deprecations (fillna downcasting); nothing a user can act on.
        warnings.simplefilter("ignore", FutureWarning)
        # The quality report requires exactly the metadata's columns; structure is diagnosed below.
        quality.generate(
            {TABLE_NAME: fidelity_real},
            {TABLE_NAME: synthetic[list(real.columns)]},
            metadata,
            verbose=False,
        )
        diagnostic.generate({TABLE_NAME: real}, {TABLE_NAME: synthetic}, metadata, verbose=False)
        baselines = _holdout_scores(fidelity_real, holdout, metadata)

    shapes = _column_scores(quality.get_details("Column Shapes"))
    pairs = _pair_scores(quality.get_details("Column Pair Trends"))
    validity = _column_scores(diagnostic.get_details("Data Validity"))
    properties = dict(quality.get_properties()[["Property", "Score"]].itertuples(index=False))
    extra = [c for c in synthetic.columns if c not in real.columns]
    # Data Structure compares (name, dtype) pairs, so name the columns whose dtypes differ too.
    dtypes = {
        c: f"real {real[c].dtype}, synthetic {synthetic[c].dtype}"
        for c in real.columns
        if real[c].dtype != synthetic[c].dtype
    }
    return [
        _score_check(
            "quality.overall",
            "fidelity",
            quality.get_score(),
            thresholds.quality_min,
            "mean of Column Shapes and Column Pair Trends" + baselines.note,
            {"properties": {k: _number(v) for k, v in properties.items()}},
            baseline=baselines.scores.get("overall"),
        ),
        _score_check(
            "quality.column_shapes",
            "fidelity",
            properties["Column Shapes"],
            thresholds.column_shapes_min,
            _lowest(shapes),
            {"columns": shapes},
            baseline=baselines.scores.get("Column Shapes"),
        ),
        _score_check(
            "quality.column_pair_trends",
            "fidelity",
            properties["Column Pair Trends"],
            thresholds.column_pair_trends_min,
            _lowest(pairs),
            {"pairs": pairs},
            applicable=bool(pairs),
            baseline=baselines.scores.get("Column Pair Trends"),
        ),
        _score_check(
            "diagnostic.data_validity",
            "diagnostic",
            _property_score(diagnostic, "Data Validity"),
            thresholds.validity_min,
            _lowest(validity),
            {"columns": validity},
        ),
        _score_check(
            "diagnostic.data_structure",
            "diagnostic",
            _property_score(diagnostic, "Data Structure"),
            thresholds.structure_min,
            _structure_detail(extra, dtypes),
            {"extra_columns": extra, "dtype_differences": dtypes},
        ),
    ]


def _structure_detail(extra: list[str], dtypes: dict[str, str]) -> str:
    parts = [f"synthetic has extra columns {extra}"] if extra else []
    parts += [f"dtypes differ: {dtypes}"] if dtypes else []
    return "; ".join(parts) or "same column names and dtypes as real"


def _score_check(
    name: str,
    category: Category,
    score: float,
    threshold: float,
    detail: str,
    data: dict[str, Any],
    *,
    applicable: bool = True,
    baseline: float | None = None,
) -> CheckResult:
    if not applicable:
        # e.g. no column pairs in a one-column table: nothing to score, nothing to fail.
        return make_check(
            name,
            category,
            None,
            "not applicable: nothing to score",
            data,
            limit=threshold,
            none_passes=True,
        )
    value = _number(score)
    if value is None:
        detail = f"SDMetrics could not compute the score; {detail}"
    return make_check(name, category, value, detail, data, limit=threshold, baseline=baseline)


@dataclass(frozen=True)
class _Baselines:
    """The quality scores of real holdout rows ("overall" and by property) and a note saying so."""

    scores: dict[str, float]
    note: str = ""


def _holdout_scores(
    real: pd.DataFrame, holdout: pd.DataFrame | None, metadata: dict[str, Any]
) -> _Baselines:
    from sdmetrics.reports import QualityReport

    if holdout is None or len(holdout) == 0:
        return _Baselines({})
    report = QualityReport()
    report.generate(
        {TABLE_NAME: real},
        {TABLE_NAME: numpy_backed(holdout[list(real.columns)])},
        metadata,
        verbose=False,
    )
    properties = report.get_properties()[["Property", "Score"]].itertuples(index=False)
    scores = {"overall": report.get_score(), **dict(properties)}
    kept = {name: value for name, score in scores.items() if (value := _number(score)) is not None}
    return _Baselines(
        kept, f"; baseline: the real holdout ({len(holdout):,} rows; fewer rows score lower)"
    )


def _property_score(report: Any, name: str) -> float:
    properties = report.get_properties()
    return float(properties.loc[properties["Property"] == name, "Score"].iloc[0])


def _column_scores(details: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        row["Column"]: _metric(row["Metric"], row["Score"], row.get("Error"))
        for row in details.to_dict("records")
    }


def _pair_scores(details: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        f"{row['Column 1']} | {row['Column 2']}": _metric(
            row["Metric"], row["Score"], row.get("Error")
        )
        for row in details.to_dict("records")
    }


def _metric(metric: str, score: float, error: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"metric": metric, "score": _number(score)}
    if isinstance(error, str):
        entry["error"] = error
    return entry


def _lowest(scores: dict[str, dict[str, Any]]) -> str:
    """A one-line summary: the lowest scores and anything SDMetrics could not score."""
    scored = sorted(
        (e["score"], k, e["metric"]) for k, e in scores.items() if e["score"] is not None
    )
    parts = [f"{k} {s:.3f} ({m})" for s, k, m in scored[:LOWEST_SHOWN]]
    text = "lowest: " + ", ".join(parts) if parts else "no scores"
    errors = {k: e["error"] for k, e in scores.items() if "error" in e}
    if errors:
        first = next(iter(errors.items()))
        text += f"; not scored: {sorted(errors)} (e.g. {first[0]}: {first[1]})"
    return text


def _number(value: Any) -> float | None:
    """A float for JSON, with SDMetrics' NaN (not computed) as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def pair_trends_retained_check(
    reference: pd.DataFrame,
    synthetic_score: float | None,
    holdout: pd.DataFrame,
    thresholds: Thresholds,
    column_sdtypes: Mapping[str, str] | None = None,
    *,
    seed: int = 0,
) -> CheckResult:
    """`quality.pair_trends_retained`: how much of the real association the synthetic Column Pair
    Trends score (`synthetic_score`, against `reference`) keeps, on the scale of two baselines
    measured on the real data: `reference` with its columns shuffled independently (0) and the
    real `holdout` (1). A fixed pair-trends threshold cannot tell shuffled columns from a good
    generator: shuffled real columns score 0.60-0.72 on the calibration tables, real holdouts and
    generators that keep the associations 0.75-0.97 (README, "What the gates promise").

    Not applicable (passes) without a synthetic score (no strongly associated real column
    pairs), when SDMetrics cannot score the holdout (too few rows) or when the holdout scores
    less than `MIN_ASSOCIATION` above shuffled columns (no association to keep). Without a
    holdout the table suite reports it not applicable itself (`validators.check`).
    """
    if synthetic_score is None:
        return _retained(None, "not applicable: no Column Pair Trends score", {}, thresholds)
    from sdmetrics.reports.single_table._properties import ColumnPairTrends
    from sdmetrics.reports.utils import (
        DEFAULT_REAL_ASSOCIATION_THRESHOLD,
        DEFAULT_REAL_CORRELATION_THRESHOLD,
    )

    def score(other: pd.DataFrame) -> float | None:
        # The pairs the QualityReport averages: those strongly associated in the real data.
        pairs = ColumnPairTrends()
        pairs.real_correlation_threshold = DEFAULT_REAL_CORRELATION_THRESHOLD
        pairs.real_association_threshold = DEFAULT_REAL_ASSOCIATION_THRESHOLD
        return _number(pairs.get_score(reference, other, metadata))

    reference, holdout = numpy_backed(reference), numpy_backed(holdout[list(reference.columns)])
    metadata = metadata_dict(detect_metadata(reference, column_sdtypes))
    shuffled = shuffle_columns(reference, np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SDMetrics' own pandas deprecations
        independent, real = score(shuffled), score(holdout)
    data = {"synthetic": synthetic_score, "shuffled_real": independent, "holdout": real}
    if independent is None or real is None:
        detail = f"not applicable: SDMetrics could not score the {len(holdout)} holdout rows"
        return _retained(None, detail, data, thresholds)
    if real - independent < MIN_ASSOCIATION:
        detail = (
            f"not applicable: the holdout's Column Pair Trends {real:.3f} is within "
            f"{MIN_ASSOCIATION} of shuffled real columns' {independent:.3f} (no association)"
        )
        return _retained(None, detail, data, thresholds)
    retained = (synthetic_score - independent) / (real - independent)
    detail = (
        f"Column Pair Trends {synthetic_score:.3f} keeps {retained:.2f} of the real association: "
        f"shuffled real columns {independent:.3f} (0), real holdout {real:.3f} (1)"
    )
    return _retained(retained, detail, data, thresholds)


def _retained(
    value: float | None, detail: str, data: dict[str, Any], thresholds: Thresholds
) -> CheckResult:
    """The `quality.pair_trends_retained` check; a missing value means it does not apply."""
    return make_check(
        "quality.pair_trends_retained",
        "fidelity",
        value,
        detail,
        data,
        limit=thresholds.pair_trends_retained_min,
        none_passes=True,
        baseline=None if value is None else 1.0,  # the real holdout, by construction
    )
