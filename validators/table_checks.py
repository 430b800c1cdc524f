"""The table suite: every check of a synthetic table against its real source, in report order.

A new table check is one `Check` in `TABLE_SUITE` (with a `Measure`, or judging one that exists)
plus its thresholds' fields in `validators.thresholds.TableGates`; `validate_table` and the job's
`validation:` block pick it up by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from core.constraints import Constraint
from validators.check import (
    REAL_AND_SYNTHETIC,
    WITH_HOLDOUT,
    Check,
    Measure,
    Measurement,
    Need,
    Suite,
    SuiteRun,
    Threshold,
)
from validators.columns import column_summaries
from validators.constraint_checks import constraint_violations
from validators.detection import MIN_ROWS as DETECTION_MIN_ROWS
from validators.detection import c2st_detection, detection_checks
from validators.expectations import ROW_COUNT, derive_expectations, gated, run_expectations
from validators.privacy import dcr_privacy, privacy_checks
from validators.quality import pair_trends_retained_check, sdmetrics_checks
from validators.report import CheckResult, make_check
from validators.table_data import FrameTable, PartsTable, positions
from validators.table_plots import dcr_figure
from validators.thresholds import Thresholds
from validators.utility import tstr_utility, utility_check


@dataclass(frozen=True)
class TableInputs:
    """What the table checks read. The samples are seeded subsamples of at most
    `max_rows_for_metrics` rows; `fidelity_real` (default `real`) is what fidelity compares with.
    The feature frames (key columns dropped) are made once, for every check reading them."""

    real: pd.DataFrame
    synthetic: FrameTable | PartsTable
    real_sample: pd.DataFrame
    synthetic_sample: pd.DataFrame
    fidelity_real: pd.DataFrame | None
    fidelity_sample: pd.DataFrame | None
    holdout: pd.DataFrame | None
    target: str | None
    column_sdtypes: Mapping[str, str] | None
    keys: list[str]
    expected_rows: int | None
    seed: int
    constraints: tuple[Constraint, ...] = ()  # checked on `real` (combinations filled from it)

    @property
    def available(self) -> frozenset[Need]:
        present = {
            "holdout": self.holdout is not None,
            "target": self.target is not None,
            "constraints": bool(self.constraints),
        }
        return REAL_AND_SYNTHETIC | {need for need, there in present.items() if there}

    @cached_property
    def reference(self) -> pd.DataFrame:
        """Every real row fidelity compares with, without key columns."""
        return _features(self.real if self.fidelity_real is None else self.fidelity_real, self.keys)

    @property
    def fidelity_rows(self) -> pd.DataFrame:
        """The sampled real rows fidelity compares with (key columns kept: SDMetrics skips them)."""
        return self.real_sample if self.fidelity_sample is None else self.fidelity_sample

    @cached_property
    def reference_sample(self) -> pd.DataFrame:
        """`fidelity_rows` without key columns."""
        return _features(self.fidelity_rows, self.keys)

    @cached_property
    def synthetic_features(self) -> pd.DataFrame:
        return _features(self.synthetic_sample, self.keys)

    @cached_property
    def holdout_features(self) -> pd.DataFrame | None:
        return None if self.holdout is None else self.holdout[list(self.reference.columns)]


TableRun = SuiteRun[TableInputs, Thresholds]


def _features(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`frame` without its key columns: identifiers would make every row tell-tale."""
    return frame.drop(columns=keys) if keys else frame


def _sdmetrics(run: TableRun) -> Measurement:
    inputs = run.inputs
    return Measurement.of(
        sdmetrics_checks(
            inputs.real_sample,
            inputs.synthetic_sample,
            run.thresholds,
            inputs.column_sdtypes,
            fidelity_real=inputs.fidelity_sample,
            holdout=_holdout_sample(run),  # the quality baselines (a job matches its conditions)
        )
    )


def _holdout_sample(run: TableRun) -> pd.DataFrame | None:
    """At most `max_rows_for_metrics` seeded holdout rows (None without a holdout)."""
    inputs = run.inputs
    if inputs.holdout is None:
        return None
    limit = run.thresholds.max_rows_for_metrics
    return inputs.holdout.iloc[positions(len(inputs.holdout), limit, inputs.seed)]


SDMETRICS = Measure("sdmetrics", _sdmetrics, "quality (SDMetrics)")


def _pair_trends_retained(run: TableRun) -> Measurement:
    inputs = run.inputs
    holdout = _holdout_sample(run)
    assert holdout is not None  # the check needs a holdout
    score = run.measured(SDMETRICS).results["quality.column_pair_trends"][0].value
    check = pair_trends_retained_check(
        inputs.fidelity_rows,
        score,
        holdout,
        run.thresholds,
        inputs.column_sdtypes,
        seed=inputs.seed,
    )
    return Measurement.of([check])


def _columns_summary(run: TableRun) -> Measurement:
    synthetic = run.inputs.synthetic_features
    return Measurement.of(
        [
            make_check(
                "columns.summary",
                "fidelity",
                None,
                f"per-column real vs synthetic statistics on {len(synthetic):,} "
                "sampled synthetic rows (advisory)",
                {"columns": column_summaries(run.inputs.reference_sample, synthetic)},
            )
        ]
    )


def _detection(run: TableRun) -> Measurement:
    inputs, thresholds = run.inputs, run.thresholds
    reference, synthetic = inputs.reference, inputs.synthetic_features
    if min(len(reference), len(synthetic)) < DETECTION_MIN_ROWS:
        return Measurement({})  # too few rows to fill the folds: no detection checks
    result = c2st_detection(
        reference,
        synthetic,
        holdout=inputs.holdout_features,
        max_rows=thresholds.max_rows_for_detection,
        seed=inputs.seed,
    )
    return Measurement.of(detection_checks(result, thresholds))


def _privacy(run: TableRun) -> Measurement:
    inputs = run.inputs
    holdout = inputs.holdout_features
    assert holdout is not None  # the privacy checks need a holdout
    result = dcr_privacy(
        inputs.reference,
        holdout,
        inputs.synthetic_features,
        max_rows=run.thresholds.max_rows_for_privacy,
        seed=inputs.seed,
    )
    return Measurement.of(privacy_checks(result, run.thresholds))


def _utility(run: TableRun) -> Measurement:
    inputs = run.inputs
    assert inputs.target is not None  # the utility check needs a target
    result = tstr_utility(
        inputs.reference,
        inputs.holdout_features,
        inputs.synthetic_features,
        inputs.target,
        seed=inputs.seed,
    )
    return Measurement.of([utility_check(result, run.thresholds)])


def _expectations(run: TableRun) -> Measurement:
    """The GX suite derived from every real row, run on every synthetic row: `expectations.
    success` reports the roll-up, then `rows.total` (part files) and each `gx.*` expectation."""
    inputs, table = run.inputs, run.inputs.synthetic
    spec = derive_expectations(
        inputs.real, run.thresholds, key_columns=inputs.keys, constraints=inputs.constraints
    )
    if isinstance(table, FrameTable) and inputs.expected_rows is not None:
        frames: Iterable[tuple[pd.DataFrame, int]] = [(table.frame, inputs.expected_rows)]
    else:
        # No planned size per frame: the row count is checked as `rows.total` or not at all.
        spec = [entry for entry in spec if entry["type"] != ROW_COUNT]
        frames = table.frames()
    schema, gx_result = run_expectations(spec, frames)
    if isinstance(table, PartsTable) and inputs.expected_rows is not None:
        schema.insert(0, _rows_total(table, inputs.expected_rows))
    checks = gated(schema, run.thresholds.expectations_must_pass)
    return Measurement({"expectations.success": checks}, gx_result)


def _constraints(run: TableRun) -> Measurement:
    inputs = run.inputs
    limit = run.thresholds.constraint_violations_max
    return Measurement.of(
        [constraint_violations(inputs.synthetic.frames(), inputs.constraints, limit)]
    )


def _rows_total(table: PartsTable, expected_rows: int) -> CheckResult:
    # Keyed like the manifest ("data/part-00000.parquet"): the parts' absolute paths are in a
    # staging directory that is gone once the version is published.
    per_part = {
        f"{p.parent.name}/{p.name}": n for p, n in zip(table.paths, table.part_rows, strict=True)
    }
    return make_check(
        "rows.total",
        "schema",
        table.rows,
        f"{table.rows:,} rows in {len(per_part)} parts, expected {expected_rows:,}",
        {"part_rows": per_part},
        limit=expected_rows,
        comparison="==",
    )


PAIR_TRENDS = Measure("pair_trends_retained", _pair_trends_retained, "pair trends vs holdout")
COLUMNS = Measure("columns", _columns_summary, "column summaries")
DETECTION = Measure("c2st", _detection, "detection (C2ST)")
PRIVACY = Measure("dcr", _privacy, "privacy (DCR)")
UTILITY = Measure("tstr", _utility, "utility (TSTR)")
EXPECTATIONS = Measure("expectations", _expectations, "expectations (GX)")
CONSTRAINTS = Measure("constraints", _constraints, "constraints")


def _min(field: str) -> tuple[Threshold, ...]:
    return (Threshold("min", field, ">="),)


def _max(field: str) -> tuple[Threshold, ...]:
    return (Threshold("max", field, "<="),)


TableCheck = Check[TableInputs, Thresholds, None]
TABLE_SUITE = Suite[TableInputs, Thresholds, None](
    "table",
    (
        TableCheck(
            "quality.overall", "fidelity", REAL_AND_SYNTHETIC, SDMETRICS, _min("quality_min")
        ),
        TableCheck(
            "quality.column_shapes",
            "fidelity",
            REAL_AND_SYNTHETIC,
            SDMETRICS,
            _min("column_shapes_min"),
        ),
        TableCheck(
            "quality.column_pair_trends",
            "fidelity",
            REAL_AND_SYNTHETIC,
            SDMETRICS,
            _min("column_pair_trends_min"),
        ),
        TableCheck(
            "diagnostic.data_validity",
            "diagnostic",
            REAL_AND_SYNTHETIC,
            SDMETRICS,
            _min("validity_min"),
        ),
        TableCheck(
            "diagnostic.data_structure",
            "diagnostic",
            REAL_AND_SYNTHETIC,
            SDMETRICS,
            _min("structure_min"),
        ),
        TableCheck(
            "quality.pair_trends_retained",
            "fidelity",
            WITH_HOLDOUT,
            PAIR_TRENDS,
            _min("pair_trends_retained_min"),
            missing="not_applicable",
        ),
        TableCheck("columns.summary", "fidelity", REAL_AND_SYNTHETIC, COLUMNS),
        TableCheck(
            "detection.c2st_auc",
            "detection",
            REAL_AND_SYNTHETIC,
            DETECTION,
            _max("detection_auc_max"),
        ),
        TableCheck(
            "detection.c2st_copies",
            "detection",
            REAL_AND_SYNTHETIC,
            DETECTION,
            _min("detection_auc_min"),
        ),
        TableCheck(
            "privacy.dcr_share",
            "privacy",
            WITH_HOLDOUT,
            PRIVACY,
            _max("dcr_share_max"),
            render=dcr_figure,
        ),
        TableCheck(
            "privacy.exact_copy_rate",
            "privacy",
            WITH_HOLDOUT,
            PRIVACY,
            (Threshold("margin", "exact_copy_margin"),),
        ),
        TableCheck(
            "privacy.nndr", "privacy", WITH_HOLDOUT, PRIVACY, (Threshold("margin", "nndr_margin"),)
        ),
        TableCheck(
            "utility.tstr_ratio",
            "utility",
            WITH_HOLDOUT | {"target"},
            UTILITY,
            _min("utility_ratio_min"),
        ),
        TableCheck(
            "constraints.violations",
            "diagnostic",
            REAL_AND_SYNTHETIC | {"constraints"},
            CONSTRAINTS,
            _max("constraint_violations_max"),
        ),
        TableCheck(
            "expectations.success",
            "schema",
            REAL_AND_SYNTHETIC,
            EXPECTATIONS,
            (
                Threshold("range_tolerance", "range_tolerance"),
                Threshold("range_outside_max", "range_outside_max"),
                Threshold("null_fraction_tolerance", "null_fraction_tolerance"),
            ),
        ),
    ),
)
