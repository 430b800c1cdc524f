"""What differs between tables and images along the pipeline, in one place.

Every table / image branch of the pipeline steps lives here, one object per kind of data, looked
up by the job's generator modality; the steps above call these methods and never branch. (Next:
these objects become modality plugins that also own loading, splitting and fingerprinting.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from core.image_parts import IMAGE_SCHEMA, decode_png, image_records, iter_image_rows
from datastore import DatasetStore, StagedVersion
from datastore.images import GRID_FILE, IMAGEFOLDER_DIR, sample_grid, write_imagefolder
from datastore.model_cache import extractor_cache_dir
from generators import Generator
from job import augment
from job.config import JobConfig
from job.real_data import RealData
from sources.tables import rows_matching
from validators import ValidationReport, validate_table
from validators.html_report import Figure
from validators.images import read_image_parts, validate_images
from validators.uplift import table_matrices

# Inputs of the uplift classifiers: x_real, x_synthetic, y_synthetic, x_holdout, y_holdout.
UpliftInputs = tuple[Any, Any, Any, Any, Any]


class DataKind(Protocol):
    """The pipeline's view of one kind of data."""

    manifest_kind: ClassVar[str]  # the version manifest's `kind`

    def schema(self, real: RealData) -> pa.Schema: ...

    def records(self, frame: pd.DataFrame, *, seed: int, first_index: int) -> pd.DataFrame: ...

    def add_views(self, staged: StagedVersion, grid_parts: Sequence[str | Path]) -> None: ...

    def validate(self, job: JobConfig, real: RealData, parts: list[str]) -> ValidationReport: ...

    def figures(
        self, job: JobConfig, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]: ...

    def lineage_extra(self, generator: Generator) -> dict[str, Any]: ...

    def augment_schema(self, train: Any) -> pa.Schema: ...

    def real_records(self, train: Any) -> pd.DataFrame: ...

    def class_conditions(self, wanted: list[str], train: Any, label: str) -> pd.DataFrame: ...

    def validate_augmented(
        self,
        job: JobConfig,
        label: str,
        train: Any,
        holdout: Any,
        plan: dict[str, int],
        parts: list[str],
    ) -> ValidationReport: ...

    def uplift_inputs(
        self, train: Any, holdout: Any, parts: list[str], label: str, sdtypes: Any
    ) -> UpliftInputs: ...


def matching(frame: Any, job: JobConfig) -> Any:
    """The real rows meeting a conditional job's conditions (all rows otherwise)."""
    return rows_matching(frame, job.conditions) if job.conditions and frame is not None else frame


def synthetic_table(parts: list[str]) -> pd.DataFrame:
    """The synthetic records of an augmented table, without their provenance columns."""
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return frame.drop(columns=augment.PROVENANCE_COLUMNS)


class Tables:
    manifest_kind: ClassVar[str] = "table"

    def schema(self, real: RealData) -> pa.Schema:
        return pa.Schema.from_pandas(real.train, preserve_index=False)

    def records(self, frame: pd.DataFrame, *, seed: int, first_index: int) -> pd.DataFrame:
        return frame

    def add_views(self, staged: StagedVersion, grid_parts: Sequence[str | Path]) -> None:
        """Tables have no views beside their parts."""

    def validate(self, job: JobConfig, real: RealData, parts: list[str]) -> ValidationReport:
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
        )

    def figures(
        self, job: JobConfig, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        from validators.table_plots import table_figures

        return table_figures(report, matching(real.train, job), parts, seed=job.seed)

    def lineage_extra(self, generator: Generator) -> dict[str, Any]:
        return {}

    def augment_schema(self, train: Any) -> pa.Schema:
        return augment.table_schema(train)

    def real_records(self, train: Any) -> pd.DataFrame:
        return train

    def class_conditions(self, wanted: list[str], train: Any, label: str) -> pd.DataFrame:
        return augment.table_conditions(wanted, train, label)

    def validate_augmented(
        self,
        job: JobConfig,
        label: str,
        train: Any,
        holdout: Any,
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
            fidelity_real=augment.class_matched(train, label, plan, job.seed),
        )

    def uplift_inputs(
        self, train: Any, holdout: Any, parts: list[str], label: str, sdtypes: Any
    ) -> UpliftInputs:
        synthetic = synthetic_table(parts)
        x_real, x_synthetic, x_holdout = table_matrices(train, synthetic, holdout, label, sdtypes)
        return x_real, x_synthetic, synthetic[label], x_holdout, holdout[label]


class Images:
    manifest_kind: ClassVar[str] = "image"

    def schema(self, real: RealData) -> pa.Schema:
        return IMAGE_SCHEMA

    def records(self, frame: pd.DataFrame, *, seed: int, first_index: int) -> pd.DataFrame:
        return image_records(frame, seed=seed, first_index=first_index)

    def add_views(self, staged: StagedVersion, grid_parts: Sequence[str | Path]) -> None:
        """A sample grid of `grid_parts` and the imagefolder view of every part
        (`images/<label>/<id>.png` + metadata.jsonl)."""
        (Path(staged.path) / GRID_FILE).write_bytes(sample_grid(grid_parts))
        write_imagefolder(staged_parts(staged), staged.dir(IMAGEFOLDER_DIR))

    def validate(self, job: JobConfig, real: RealData, parts: list[str]) -> ValidationReport:
        """Validate the staged images. The CNN extractor is cached in the store,
        `<root>/.extractors/`, by the real training data's fingerprint, so every job on the same
        real data shares it."""
        requested = [str(job.conditions["label"])] if job.conditions else []
        return self._validate(
            job,
            real.train,
            real.holdout,
            parts,
            expected_rows=job.rows,
            requested_labels=real.label_names if job.balanced_labels else requested,
        )

    def figures(
        self, job: JobConfig, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        from validators.image_plots import image_figures

        return image_figures(report, real.train, read_image_parts(parts))

    def lineage_extra(self, generator: Generator) -> dict[str, Any]:
        return {"sampling": generator.sampling_info()}

    def augment_schema(self, train: Any) -> pa.Schema:
        return augment.image_schema()

    def real_records(self, train: Any) -> pd.DataFrame:
        return image_records(augment.image_frame(train), seed=0, first_index=0)

    def class_conditions(self, wanted: list[str], train: Any, label: str) -> pd.DataFrame:
        return pd.DataFrame({"label": wanted})

    def validate_augmented(
        self,
        job: JobConfig,
        label: str,
        train: Any,
        holdout: Any,
        plan: dict[str, int],
        parts: list[str],
    ) -> ValidationReport:
        return self._validate(
            job,
            train,
            holdout,
            parts,
            expected_rows=sum(plan.values()),
            requested_labels=[name for name, count in plan.items() if count],
        )

    def _validate(
        self,
        job: JobConfig,
        train: Any,
        holdout: Any,
        parts: list[str],
        *,
        expected_rows: int,
        requested_labels: list[str],
    ) -> ValidationReport:
        return validate_images(
            train,
            read_image_parts(parts),
            real_holdout=holdout,
            extractor_cache=extractor_cache_dir(DatasetStore(job.root).root),
            thresholds=job.validation,
            expected_rows=expected_rows,
            requested_labels=requested_labels,
            seed=job.seed,
        )

    def uplift_inputs(
        self, train: Any, holdout: Any, parts: list[str], label: str, sdtypes: Any
    ) -> UpliftInputs:
        rows = list(iter_image_rows(parts))
        pixels = np.stack([decode_png(r["image"]["bytes"]).transpose(2, 0, 1) for r in rows])
        x_real, x_holdout = (d.images.reshape(len(d), -1) for d in (train, holdout))
        x_synthetic = pixels.reshape(len(rows), -1).astype(np.float32) / 255
        y_synthetic = [r["label"] for r in rows]
        return x_real, x_synthetic, y_synthetic, x_holdout, augment.class_labels(holdout, label)


_BY_GENERATOR_MODALITY: dict[str, DataKind] = {"tabular": Tables(), "image": Images()}


def data_kind(job: JobConfig) -> DataKind:
    """The kind of data the job's generator makes."""
    return _BY_GENERATOR_MODALITY[job.generator.modality]


def staged_parts(staged: StagedVersion) -> list[Path]:
    """The staged version's local part files, in part order."""
    return sorted((Path(staged.path) / "data").glob("part-*.parquet"))
