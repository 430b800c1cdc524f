"""`validate_table`: every check of a synthetic table against its real source, in one report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError
from core.metadata import key_columns
from validators.columns import column_summaries
from validators.detection import MIN_ROWS as DETECTION_MIN_ROWS
from validators.detection import c2st_detection, detection_checks
from validators.expectations import ROW_COUNT, derive_expectations, gated, run_expectations
from validators.privacy import dcr_privacy, privacy_checks
from validators.quality import pair_trends_retained_check, sdmetrics_checks
from validators.report import CheckResult, ValidationReport, make_check
from validators.thresholds import Thresholds
from validators.utility import tstr_utility, utility_check


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
    - with `holdout` and `target` (a column of `real`): `utility.tstr_ratio` (TSTR vs TRTR).

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
    no rows or lacks a column of `real` (named), or a part file is missing or unreadable.
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
    table = _open_table(synthetic)
    table.require_columns(list(real.columns))

    limit = thresholds.max_rows_for_metrics
    real_sample = real.iloc[_positions(len(real), limit, seed)]
    synthetic_sample = table.take(_positions(table.rows, limit, seed))
    fidelity_sample = None
    if fidelity_real is not None:
        _require_real(fidelity_real)
        fidelity_sample = fidelity_real.iloc[_positions(len(fidelity_real), limit, seed)]
    fidelity = sdmetrics_checks(
        real_sample, synthetic_sample, thresholds, column_sdtypes, fidelity_real=fidelity_sample
    )
    fidelity.append(
        pair_trends_retained_check(
            fidelity_sample if fidelity_sample is not None else real_sample,
            _check_value(fidelity, "quality.column_pair_trends"),
            None if holdout is None else holdout.iloc[_positions(len(holdout), limit, seed)],
            thresholds,
            column_sdtypes,
            seed=seed,
        )
    )

    spec = derive_expectations(real, thresholds, key_columns=keys)
    if isinstance(table, _FrameTable) and expected_rows is not None:
        frames: Iterable[tuple[pd.DataFrame, int]] = [(table.frame, expected_rows)]
    else:
        # No planned size per frame: the row count is checked as `rows.total` or not at all.
        spec = [entry for entry in spec if entry["type"] != ROW_COUNT]
        frames = table.frames()
    schema, gx_result = run_expectations(spec, frames)
    if isinstance(table, _PartsTable) and expected_rows is not None:
        schema.insert(0, _rows_total(table, expected_rows))

    deep = _deep_checks(
        _features(fidelity_real if fidelity_real is not None else real, keys),
        _features(fidelity_sample if fidelity_sample is not None else real_sample, keys),
        _features(synthetic_sample, keys),
        holdout,
        target,
        thresholds,
        seed,
    )
    return ValidationReport(
        checks=[*fidelity, *deep, *gated(schema, thresholds.expectations_must_pass)],
        real_rows=len(real),
        synthetic_rows=table.rows,
        evaluated_rows=len(synthetic_sample),
        sample_seed=seed,
        thresholds=thresholds.model_dump(),
        created_at=datetime.now(UTC),
        gx_result=gx_result,
    )


def sample_table(
    table: pd.DataFrame | Sequence[str | Path], limit: int, seed: int = 0
) -> pd.DataFrame:
    """A seeded sample of at most `limit` rows of a DataFrame or of Parquet part files, read one
    part at a time; the same rows split into parts give the same sample."""
    opened = _open_table(table)
    return opened.take(_positions(opened.rows, limit, seed))


def _open_table(table: pd.DataFrame | Sequence[str | Path]) -> _FrameTable | _PartsTable:
    if isinstance(table, pd.DataFrame):
        return _FrameTable(table)
    return _PartsTable([Path(p) for p in table])


def _deep_checks(
    reference: pd.DataFrame,
    reference_sample: pd.DataFrame,
    synthetic_sample: pd.DataFrame,
    holdout: pd.DataFrame | None,
    target: str | None,
    thresholds: Thresholds,
    seed: int,
) -> list[CheckResult]:
    """Per-column details, detection, privacy (with a holdout) and utility (with a target)."""
    if holdout is not None:
        holdout = holdout[list(reference.columns)]
    checks = [
        make_check(
            "columns.summary",
            "fidelity",
            None,
            f"per-column real vs synthetic statistics on {len(synthetic_sample):,} "
            "sampled synthetic rows (advisory)",
            {"columns": column_summaries(reference_sample, synthetic_sample)},
        )
    ]
    if min(len(reference), len(synthetic_sample)) >= DETECTION_MIN_ROWS:
        detection = c2st_detection(
            reference,
            synthetic_sample,
            holdout=holdout,
            max_rows=thresholds.max_rows_for_detection,
            seed=seed,
        )
        checks += detection_checks(detection, thresholds)
    if holdout is not None:
        privacy = dcr_privacy(
            reference,
            holdout,
            synthetic_sample,
            max_rows=thresholds.max_rows_for_privacy,
            seed=seed,
        )
        checks += privacy_checks(privacy, thresholds)
    if target is not None:
        utility = tstr_utility(reference, holdout, synthetic_sample, target, seed=seed)
        checks.append(utility_check(utility, thresholds))
    return checks


def _features(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`frame` without its key columns: identifiers would make every row tell-tale."""
    return frame.drop(columns=keys) if keys else frame


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


def _check_value(checks: list[CheckResult], name: str) -> float | None:
    return next(check.value for check in checks if check.name == name)


def _positions(total: int, limit: int, seed: int) -> np.ndarray:
    """Sorted row positions of a seeded sample of `min(total, limit)` rows (all rows if fewer)."""
    if total <= limit:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=limit, replace=False))


def _missing_columns_error(where: str, missing: list[Any], real_columns: list[Any]) -> DataError:
    return DataError(
        f"{where} lacks columns of the real table: {missing}. Real columns: {real_columns}; "
        "the generator must produce every real column."
    )


class _FrameTable:
    """A synthetic table held as one DataFrame."""

    def __init__(self, frame: pd.DataFrame):
        if len(frame) == 0:
            raise DataError(
                f"The synthetic table has 0 rows (columns {list(frame.columns)}); "
                "there is nothing to validate."
            )
        self.frame = frame
        self.rows = len(frame)

    def require_columns(self, columns: list[Any]) -> None:
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            raise _missing_columns_error("The synthetic table", missing, columns)

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[positions]

    def frames(self) -> Iterator[tuple[pd.DataFrame, int]]:
        yield self.frame, self.rows


class _PartsTable:
    """A synthetic table stored as Parquet part files, read one part at a time."""

    def __init__(self, paths: list[Path]):
        import pyarrow.parquet as pq

        if not paths:
            raise DataError("No synthetic part files were given; pass a DataFrame or part paths.")
        self.paths = paths
        self.part_rows = []
        self.schemas = []
        for path in paths:
            try:
                metadata = pq.ParquetFile(path).metadata
            except (OSError, ValueError) as exc:  # missing file, or not Parquet (ArrowInvalid)
                raise DataError(
                    f"Synthetic part file {path} cannot be read as Parquet: {exc}"
                ) from exc
            self.part_rows.append(metadata.num_rows)
            self.schemas.append(metadata.schema.to_arrow_schema().names)
        self.rows = sum(self.part_rows)
        if self.rows == 0:
            raise DataError(f"The synthetic part files {[str(p) for p in paths]} hold 0 rows.")

    def require_columns(self, columns: list[Any]) -> None:
        for path, names in zip(self.paths, self.schemas, strict=True):
            missing = [c for c in columns if c not in names]
            if missing:
                raise _missing_columns_error(f"Synthetic part file {path}", missing, columns)

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        import pyarrow.parquet as pq

        # One part in memory at a time (pyarrow's Dataset.take peaks near the whole table).
        pieces, start = [], 0
        for path, rows in zip(self.paths, self.part_rows, strict=True):
            local = positions[(positions >= start) & (positions < start + rows)] - start
            if len(local):
                pieces.append(pq.read_table(path).take(local).to_pandas())
            start += rows
        return pd.concat(pieces, ignore_index=True)

    def frames(self) -> Iterator[tuple[pd.DataFrame, int]]:
        import pyarrow.parquet as pq

        for path, rows in zip(self.paths, self.part_rows, strict=True):
            yield pq.read_table(path).to_pandas(), rows


def _rows_total(table: _PartsTable, expected_rows: int) -> CheckResult:
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
