"""Single tables: CSV / Parquet / built-in / dataset-version sources, a seeded row holdout, parts
written as the rows generators sample, the table suite (`validators.table_checks`) and its plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa

from core.constraints import Constraint, check_against
from core.errors import ConfigError, DataError
from modalities.base import (
    FileInputs,
    FileValidation,
    JobView,
    Modality,
    RealData,
    UpliftInputs,
    open_source_version,
    refuse_relational_options,
)
from modalities.provenance import PROVENANCE_COLUMNS, PROVENANCE_FIELDS
from modalities.table_files import reads_table_files, validate_table_files
from sources import tables
from sources.config import SourceConfig
from validators import Thresholds, ValidationReport, validate_table
from validators.html_report import Figure
from validators.uplift import table_matrices

IMAGE_ONLY = ("image_size", "channels", "max_image_pixels")
SEQUENCE_ONLY = ("sequence_key", "sequence_index", "context_columns")


class TableModality(Modality):
    name: ClassVar[str] = "table"
    thresholds = Thresholds
    builtins = tables.BUILTIN_TABLES
    # Privacy (DCR) and utility (TSTR) need real rows never fitted.
    holdout_default: ClassVar[float] = 0.2

    def check_job(self, job: JobView) -> None:
        refuse_relational_options(job)
        given = [key for key in IMAGE_ONLY if getattr(job.source, key) is not None]
        if given or job.balanced_labels:
            raise ValueError(
                "image_size, channels, max_image_pixels and balanced_labels apply to image "
                "generators only"
            )
        if job.prompts is not None:
            raise ValueError("prompts apply to text-to-image generators only (e.g. t2i)")
        if any(getattr(job.source, key) for key in SEQUENCE_ONLY):
            raise ValueError(f"{', '.join(SEQUENCE_ONLY)} apply to sequence generators only (par)")
        if job.target is not None and job.holdout_fraction == 0:
            raise ValueError(
                f"target {job.target!r} needs real holdout rows to score on; set "
                f"source.holdout_fraction > 0 (default {self.holdout_default})"
            )

    # ---- real data -----------------------------------------------------------------------------
    def load(self, source: SourceConfig, root: str | Path) -> tuple[pd.DataFrame, str]:
        if source.builtin is not None:
            return tables.load_builtin(source.builtin), f"builtin:{source.builtin}"
        if source.dataset is not None:
            version = open_source_version(source, root)
            return version.to_pandas(), f"dataset:{version.ref}"
        path = Path(str(source.path))
        return tables.load_table(path), str(path.resolve())

    def split(
        self, data: pd.DataFrame, fraction: float, seed: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
        return tables.split_table(data, fraction, seed)

    def fingerprint(self, data: pd.DataFrame) -> str:
        return tables.fingerprint(data)

    def subset(self, data: pd.DataFrame, positions: Sequence[int]) -> pd.DataFrame:
        return data.iloc[list(positions)].reset_index(drop=True)

    def check_conditions(self, real: RealData, conditions: dict[str, Any] | None) -> None:
        tables.rows_matching(real.train, conditions)

    def check_constraints(self, real: RealData, constraints: Sequence[Constraint]) -> None:
        if not constraints:
            return
        check_against(real.train, constraints, "the source's training rows")
        if real.holdout is not None and len(real.holdout):
            check_against(real.holdout, constraints, "the source's holdout rows")

    def check_target(self, real: RealData, target: str | None) -> None:
        if target is not None and target not in real.train.columns:
            raise ConfigError(
                f"target {target!r} is not a column of the real table; columns: "
                f"{list(real.train.columns)}. Name the column a model should predict."
            )

    # ---- what a version holds ------------------------------------------------------------------
    def schema(self, real: RealData) -> pa.Schema:
        return pa.Schema.from_pandas(real.train, preserve_index=False)

    # ---- validation and report -----------------------------------------------------------------
    def validate(self, job: JobView, real: RealData, parts: list[str]) -> ValidationReport:
        return validate_table(
            real.train,
            parts,
            thresholds=job.validation,
            column_sdtypes=job.column_sdtypes,
            expected_rows=job.rows,
            seed=job.seed,
            fidelity_real=matching(real.train, job),
            holdout=matching(real.holdout, job),
            target=job.target,
            constraints=job.constraints,
        )

    def figures(
        self, job: JobView, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        from validators.table_plots import table_figures

        return table_figures(report, matching(real.train, job), parts, seed=job.seed)

    # ---- augmenting a labelled set -------------------------------------------------------------
    def reads_files(self, real: str) -> bool:
        return reads_table_files(real)

    def validate_files(self, given: FileInputs) -> FileValidation:
        return validate_table_files(given, self.holdout_default)

    def class_labels(self, train: pd.DataFrame, label: str) -> pd.Series:
        if label not in train.columns:
            raise DataError(
                f"augment.label {label!r} is not a column of the source; columns: {list(train)}."
            )
        if train[label].isna().any():
            raise DataError(
                f"The label column {label!r} has missing values; drop those rows first."
            )
        return train[label].astype(str).reset_index(drop=True)

    def augment_schema(self, train: pd.DataFrame) -> pa.Schema:
        """The real columns, then the provenance columns."""
        clash = [c for c in ("seed", "sample_index") if c in train.columns]
        if clash:
            raise DataError(
                f"The source has column(s) {clash}, which the augmented dataset uses for "
                "provenance; rename them in the source."
            )
        base = pa.Schema.from_pandas(train, preserve_index=False)
        return pa.schema(list(base) + PROVENANCE_FIELDS)

    def real_records(self, train: pd.DataFrame) -> pd.DataFrame:
        return train

    def class_conditions(self, wanted: list[str], train: pd.DataFrame, label: str) -> pd.DataFrame:
        """A conditions frame fixing the label column, in the column's own dtype."""
        values = dict(zip(train[label].astype(str), train[label], strict=True))
        return pd.DataFrame({label: [values[name] for name in wanted]}).astype(train[label].dtype)

    def validate_augmented(
        self,
        job: JobView,
        label: str,
        train: pd.DataFrame,
        holdout: pd.DataFrame,
        plan: dict[str, int],
        parts: list[str],
    ) -> ValidationReport:
        return validate_table(
            train,
            synthetic_table(parts),
            thresholds=job.validation,
            column_sdtypes=job.column_sdtypes,
            expected_rows=sum(plan.values()),
            seed=job.seed,
            fidelity_real=class_matched(train, label, plan, job.seed),
        )

    def uplift_inputs(
        self,
        train: pd.DataFrame,
        holdout: pd.DataFrame,
        parts: list[str],
        label: str,
        sdtypes: dict[str, str],
    ) -> UpliftInputs:
        synthetic = synthetic_table(parts)
        x_real, x_synthetic, x_holdout = table_matrices(train, synthetic, holdout, label, sdtypes)
        return x_real, x_synthetic, synthetic[label], x_holdout, holdout[label]


def matching(frame: Any, job: JobView) -> Any:
    """The real rows meeting a conditional job's conditions (all rows otherwise)."""
    if job.conditions and frame is not None:
        return tables.rows_matching(frame, job.conditions)
    return frame


def synthetic_table(parts: list[str]) -> pd.DataFrame:
    """The synthetic records of an augmented table, without their provenance columns."""
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return frame.drop(columns=PROVENANCE_COLUMNS)


def class_matched(train: pd.DataFrame, label: str, plan: dict[str, int], seed: int) -> pd.DataFrame:
    """Real training rows drawn (seeded, with replacement) in the synthetic class mix, so
    fidelity scores compare like with like rather than penalise the rebalanced classes."""
    names = train[label].astype(str)
    picks = [
        train[names == name].sample(count, replace=True, random_state=seed)
        for name, count in plan.items()
        if count
    ]
    return pd.concat(picks, ignore_index=True)
