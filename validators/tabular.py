"""`validate_table`: every check of the table suite (`validators.table_checks`) of a synthetic
table against its real source, in one report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from core.constraints import Constraint, check_against
from core.errors import ConfigError, DataError
from core.metadata import key_columns
from validators.report import ValidationReport
from validators.table_checks import TABLE_SUITE, TableInputs
from validators.table_data import open_table, positions
from validators.thresholds import Thresholds


def validate_table(
    real: pd.DataFrame,
    synthetic: pd.DataFrame | Sequence[str | Path],
    *,
    thresholds: Thresholds | None = None,
    column_sdtypes: Mapping[str, str] | None = None,
    expected_rows: int | None = None,
    seed: int = 0,
    fidelity_real: pd.DataFrame | None = None,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    constraints: Sequence[Constraint] = (),
) -> ValidationReport:
    """Validate `synthetic` against `real` and return the report with its gate verdict.

    `fidelity_real` (default `real`) is what the SDMetrics quality scores compare with: for a
    conditional job, the real rows meeting its conditions. Expectations and the diagnostic keep
    all of `real` as the domain of valid values.

    `synthetic` is a DataFrame or a list of Parquet part files of one table. Part files are read
    one at a time, so the whole table is never in memory:

    - Great Expectations: the suite derived from `real` runs on every synthetic row (each part
      separately); one check per expectation, rolled up into `expectations.success`.
    - SDMetrics: quality and diagnostic scores on a seeded subsample of at most
      `thresholds.max_rows_for_metrics` synthetic rows (drawn across parts by row position
      without loading them all) and as many real rows; `evaluated_rows` records the size.

    Deeper checks, each on a seeded subsample of the SDMetrics sample whose size its `data`
    records (the real side is `fidelity_real` when given, else `real`):

    - `columns.summary` (advisory): per-column real vs synthetic statistics;
    - `detection.c2st_auc`: C2ST, with a real-vs-real baseline against `holdout` when given,
      and the `detection.c2st_copies` gate on the same AUC (copies score far below 0.5);
    - with `holdout` (real rows the generator never saw, meeting the same conditions):
      `privacy.*` (DCR share, exact copies, NNDR) and `quality.pair_trends_retained` (the
      pair-trends score between shuffled real columns and the holdout's, on at most
      `max_rows_for_metrics` holdout rows);
    - with `holdout` and `target` (a column of `real`): `utility.tstr_ratio` (TSTR vs TRTR);
    - with `constraints` (`core.constraints`, which `real` must hold; fixed combinations allow
      the combinations of `real`): `constraints.violations`, the synthetic rows breaking any of
      them (every row; a gate at `constraint_violations_max`, default 0), and a GX expectation
      per constraint GX can express.

    These are the checks of the table suite (`validators.table_checks.TABLE_SUITE`), in its
    order; `thresholds.drop` leaves checks out (a measure runs only for the checks kept) and
    `thresholds.add` makes advisory ones gates.

    Key columns (`core.metadata.key_columns(real, column_sdtypes)`) are identifiers that
    generators regenerate, not features: the expectations check only their type and nulls,
    SDMetrics skips them (sdtype `id`), and the deeper checks leave them out.

    `expected_rows` is the planned row count of the whole table. For a DataFrame it is the GX
    row-count expectation's `expected_rows`. Part sizes are a storage detail with no plan of
    their own, so for part files the row-count expectation is left out of the per-part suite and
    the planned total is checked against the parts' Parquet footers as `rows.total`. Without
    `expected_rows` no row count is checked. The same `seed` gives the same subsample for a
    DataFrame and for the same rows split into parts.

    Raises ConfigError when `target` is given without `holdout` or is not a real column, and
    DataError when `real` has no columns or rows, `holdout` lacks a real column, `synthetic` has
    no rows or lacks a column of `real` (named), or a part file is missing or unreadable (its
    subclass ConstraintError when `real` itself breaks a constraint or lacks its columns).
    """
    thresholds = thresholds or Thresholds()
    _require_real(real)
    _require_holdout_and_target(real, holdout, target)
    keys = key_columns(real, column_sdtypes)
    if target in keys:
        raise ConfigError(
            f"target {target!r} is a key column (unique per row, regenerated); name a feature "
            "column for the utility check."
        )
    table = open_table(synthetic)
    table.require_columns(list(real.columns))
    checked = check_against(real, constraints, "the real table") if constraints else ()

    limit = thresholds.max_rows_for_metrics
    synthetic_sample = table.take(positions(table.rows, limit, seed))
    fidelity_sample = None
    if fidelity_real is not None:
        _require_real(fidelity_real)
        fidelity_sample = fidelity_real.iloc[positions(len(fidelity_real), limit, seed)]
    inputs = TableInputs(
        real=real,
        synthetic=table,
        real_sample=real.iloc[positions(len(real), limit, seed)],
        synthetic_sample=synthetic_sample,
        fidelity_real=fidelity_real,
        fidelity_sample=fidelity_sample,
        holdout=holdout,
        target=target,
        column_sdtypes=column_sdtypes,
        keys=keys,
        expected_rows=expected_rows,
        seed=seed,
        constraints=checked,
    )
    outcome = TABLE_SUITE.run(inputs, thresholds)
    return ValidationReport(
        checks=outcome.checks,
        real_rows=len(real),
        synthetic_rows=table.rows,
        evaluated_rows=len(synthetic_sample),
        sample_seed=seed,
        thresholds=thresholds.model_dump(),
        created_at=datetime.now(UTC),
        gx_result=outcome.gx_result,
    )


def _require_holdout_and_target(
    real: pd.DataFrame, holdout: pd.DataFrame | None, target: str | None
) -> None:
    """Fail before any scoring when the holdout or target cannot be used."""
    if target is not None and target not in real.columns:
        raise ConfigError(
            f"target {target!r} is not a column of the real table; columns: {list(real.columns)}."
        )
    if target is not None and holdout is None:
        raise ConfigError(
            f"target {target!r} needs real holdout rows to score TSTR / TRTR on; give a holdout "
            "(jobs: source.holdout_fraction > 0)."
        )
    if holdout is not None:
        lacking = [c for c in real.columns if c not in holdout.columns]
        if lacking:
            raise DataError(f"The holdout table lacks real column(s) {lacking}.")


def _require_real(real: pd.DataFrame) -> None:
    if real.shape[1] == 0:
        raise DataError("The real table has no columns; there is nothing to validate against.")
    if len(real) == 0:
        raise DataError(
            f"The real table has 0 rows (columns {list(real.columns)}); validation derives its "
            "expectations and scores from real rows, so pass the source data."
        )
    duplicated = sorted({str(c) for c in real.columns[real.columns.duplicated()]})
    if duplicated:
        raise DataError(f"The real table has duplicate column names {duplicated}; rename them.")
