"""The relational suite: a synthetic dataset of several tables against its real source.

Gates: referential integrity (every synthetic foreign key has its parent: 1.0 by construction
for our generators, a regression check), SDMetrics' multi-table Quality (column shapes, pair
trends, cardinality, inter-table trends) and Diagnostic reports, and the child-count shape per
relationship (1 - KS statistic between the real and synthetic distributions of children per
parent, the worst relationship gating). Advisory: the per-table quality and the parent-child
column correlations (SDMetrics' Intertable Trends).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from core.relational import RelationalData, child_counts, sdv_metadata
from validators.check import (
    REAL_AND_SYNTHETIC,
    Check,
    Measure,
    Measurement,
    Suite,
    SuiteRun,
    Threshold,
)
from validators.report import CheckResult, Kind, ValidationReport, make_check
from validators.thresholds import CheckSelection


class RelationalGates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    integrity_min: float = Field(
        1.0,
        description="Minimum share of synthetic foreign key values whose parent row exists "
        "(every relationship together). Default 1.0.",
    )
    quality_min: float = Field(
        0.60, description="Minimum SDMetrics multi-table quality score, in [0, 1]. Default 0.60."
    )
    diagnostic_min: float = Field(
        0.90,
        description="Minimum SDMetrics multi-table diagnostic score, in [0, 1]. Default 0.90.",
    )
    child_count_shape_min: float = Field(
        0.60,
        description="Minimum 1 - KS statistic between real and synthetic children per parent, "
        "for the worst relationship, in [0, 1]. Default 0.60.",
    )


class RelationalThresholds(CheckSelection, RelationalGates):
    """Pass/fail thresholds of a relational dataset's checks and the checks selected by name."""

    kind: ClassVar[Kind] = "relational"


@dataclass(frozen=True)
class RelationalInputs:
    real: RelationalData
    synthetic: Mapping[str, pd.DataFrame]
    available: frozenset = REAL_AND_SYNTHETIC


def read_synthetic(parts: list[str]) -> dict[str, pd.DataFrame]:
    """The synthetic tables of a relational version's parts (`.../data/<table>/part-*`)."""
    by_table: dict[str, list[str]] = {}
    for part in parts:
        by_table.setdefault(part.replace("\\", "/").split("/")[-2], []).append(part)
    return {
        name: pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
        for name, files in by_table.items()
    }


def _integrity(run: SuiteRun[RelationalInputs, RelationalThresholds]) -> Measurement:
    real, synthetic = run.inputs.real, run.inputs.synthetic
    per: dict[str, float] = {}
    total = orphans = 0
    for rel in real.relationships:
        keys = synthetic[rel.child][rel.child_key].dropna()
        missing = int((~keys.isin(synthetic[rel.parent][rel.parent_key])).sum())
        per[rel.describe()] = 1.0 - missing / len(keys) if len(keys) else 1.0
        total, orphans = total + len(keys), orphans + missing
    value = 1.0 - orphans / total if total else 1.0
    detail = f"{orphans:,} of {total:,} synthetic foreign key values have no parent row"
    return Measurement.of(
        [
            make_check(
                "relational.referential_integrity",
                "diagnostic",
                value,
                detail,
                {"per_relationship": per},
                limit=run.thresholds.integrity_min,
            )
        ]
    )


def _child_counts(run: SuiteRun[RelationalInputs, RelationalThresholds]) -> Measurement:
    from scipy.stats import ks_2samp

    real, synthetic = run.inputs.real, run.inputs.synthetic
    per: dict[str, dict[str, float]] = {}
    for rel in real.relationships:
        real_counts = child_counts(
            real.tables[rel.parent][rel.parent_key], real.tables[rel.child][rel.child_key]
        )
        synth_counts = child_counts(
            synthetic[rel.parent][rel.parent_key], synthetic[rel.child][rel.child_key]
        )
        score = 1.0 - float(ks_2samp(real_counts, synth_counts).statistic)
        per[rel.describe()] = {
            "shape": round(score, 4),
            "real_mean": round(float(real_counts.mean()), 3),
            "synthetic_mean": round(float(synth_counts.mean()), 3) if len(synth_counts) else 0.0,
        }
    worst = min((v["shape"] for v in per.values()), default=None)
    return Measurement.of(
        [
            make_check(
                "relational.child_count_shape",
                "fidelity",
                worst,
                "1 - KS statistic of children per parent, worst relationship",
                {"per_relationship": per},
                limit=run.thresholds.child_count_shape_min,
                none_passes=True,
            )
        ]
    )


def _sdmetrics(run: SuiteRun[RelationalInputs, RelationalThresholds]) -> Measurement:
    from sdmetrics.reports import DiagnosticReport, QualityReport

    real, synthetic = run.inputs.real, run.inputs.synthetic
    metadata = sdv_metadata(real).to_dict()
    tables = {name: synthetic[name] for name in real.tables}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quality = QualityReport()
        quality.generate(dict(real.tables), tables, metadata, verbose=False)
        diagnostic = DiagnosticReport()
        diagnostic.generate(dict(real.tables), tables, metadata, verbose=False)
    properties = _scores(quality.get_properties())
    per_table = _per_table_shapes(quality)
    trends = properties.get("Intertable Trends")
    results = [
        make_check(
            "relational.quality",
            "fidelity",
            float(quality.get_score()),
            "SDMetrics multi-table quality: "
            + ", ".join(f"{k} {v:.3f}" for k, v in properties.items()),
            {"properties": properties},
            limit=run.thresholds.quality_min,
        ),
        make_check(
            "relational.diagnostic",
            "diagnostic",
            float(diagnostic.get_score()),
            "SDMetrics multi-table diagnostic (data validity and structure, relationship validity)",
            {"properties": _scores(diagnostic.get_properties())},
            limit=run.thresholds.diagnostic_min,
        ),
        make_check(
            "relational.table_quality",
            "fidelity",
            min(per_table.values()) if per_table else None,
            "SDMetrics column shapes per table (worst table shown)",
            {"per_table": per_table},
        ),
        make_check(
            "relational.parent_child_correlations",
            "fidelity",
            trends,
            "SDMetrics Intertable Trends: parent-child column pair correlations kept",
        ),
    ]
    return Measurement.of(results)


def _scores(properties: pd.DataFrame) -> dict[str, float]:
    return {
        str(row["Property"]): round(float(row["Score"]), 4)
        for _, row in properties.iterrows()
        if pd.notna(row["Score"])
    }


def _per_table_shapes(quality: Any) -> dict[str, float]:
    details = quality.get_details("Column Shapes")
    return {
        str(table): round(float(group["Score"].mean()), 4)
        for table, group in details.groupby("Table")
        if group["Score"].notna().any()
    }


INTEGRITY = Measure("integrity", _integrity)
CHILD_COUNTS = Measure("child_counts", _child_counts)
SDMETRICS = Measure("sdmetrics_multi_table", _sdmetrics, label="SDMetrics multi-table reports")


def _min(field: str) -> tuple[Threshold, ...]:
    return (Threshold("min", field, ">="),)


RelationalCheck = Check[RelationalInputs, RelationalThresholds, None]
RELATIONAL_SUITE = Suite[RelationalInputs, RelationalThresholds, None](
    "relational",
    (
        RelationalCheck(
            "relational.referential_integrity",
            "diagnostic",
            REAL_AND_SYNTHETIC,
            INTEGRITY,
            _min("integrity_min"),
        ),
        RelationalCheck(
            "relational.quality", "fidelity", REAL_AND_SYNTHETIC, SDMETRICS, _min("quality_min")
        ),
        RelationalCheck(
            "relational.diagnostic",
            "diagnostic",
            REAL_AND_SYNTHETIC,
            SDMETRICS,
            _min("diagnostic_min"),
        ),
        RelationalCheck(
            "relational.child_count_shape",
            "fidelity",
            REAL_AND_SYNTHETIC,
            CHILD_COUNTS,
            _min("child_count_shape_min"),
        ),
        RelationalCheck("relational.table_quality", "fidelity", REAL_AND_SYNTHETIC, SDMETRICS),
        RelationalCheck(
            "relational.parent_child_correlations", "fidelity", REAL_AND_SYNTHETIC, SDMETRICS
        ),
    ),
)


def validate_relational(
    real: RelationalData,
    synthetic: Mapping[str, pd.DataFrame],
    thresholds: RelationalThresholds,
    seed: int = 0,
) -> ValidationReport:
    """Every relational check of `thresholds`' selection on `synthetic` against `real`."""
    missing = sorted(set(real.tables) - set(synthetic))
    if missing:
        results: list[CheckResult] = [
            make_check(
                "relational.referential_integrity",
                "diagnostic",
                0.0,
                f"synthetic tables {missing} are missing",
                limit=thresholds.integrity_min,
            )
        ]
    else:
        results = RELATIONAL_SUITE.run(RelationalInputs(real, synthetic), thresholds).checks
    return ValidationReport(
        checks=results,
        real_rows=sum(real.rows.values()),
        synthetic_rows=sum(len(frame) for frame in synthetic.values()),
        evaluated_rows=sum(len(frame) for frame in synthetic.values()),
        sample_seed=seed,
        thresholds=thresholds.model_dump(),
        created_at=datetime.now(UTC),
        kind="relational",
    )
