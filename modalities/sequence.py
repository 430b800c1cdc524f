"""Sequential tables (panels, time series): a table source plus the columns that make it
sequential (`source.sequence_key`, `sequence_index`, `context_columns`; built-ins bring their
own), checked when it loads (`core.sequences.check_sequences`), held out by whole entities,
generated a number of sequences at a time (`rows:` counts sequences), and validated with the
table suite on the rows plus the sequence checks (`validators.sequences`) on whole sequences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import ConfigError, DataError
from core.sequences import SequenceSpec, check_sequences, ordered
from generators import Generator
from modalities.base import JobView, RealData
from modalities.table import IMAGE_ONLY, TableModality
from sources import sequences
from sources.config import SourceConfig
from validators import ValidationReport, validate_table
from validators.sequences import sequence_checks
from validators.thresholds import SequenceThresholds

SPEC = "sequence_spec"  # the frame's `attrs` key holding its SequenceSpec


class SequenceModality(TableModality):
    name: ClassVar[str] = "sequence"
    thresholds = SequenceThresholds
    builtins = sequences.SEQUENCE_BUILTINS

    def check_job(self, job: JobView) -> None:
        given = [key for key in IMAGE_ONLY if getattr(job.source, key) is not None]
        if given or job.balanced_labels or job.prompts is not None:
            raise ValueError(
                "image_size, channels, max_image_pixels, balanced_labels and prompts "
                "apply to image generators only"
            )
        if job.conditions or job.target or job.constraints:
            raise ValueError(
                "conditions, target and constraints do not apply to sequence "
                "generators yet; remove them"
            )
        source_spec(job.source)

    def generator_defaults(self, job: JobView) -> dict[str, Any]:
        spec = source_spec(job.source)
        return {
            "sequence_key": spec.key,
            "sequence_index": spec.index,
            "context_columns": list(spec.context),
        }

    # ---- real data -----------------------------------------------------------------------------
    def load(self, source: SourceConfig, root: str | Path) -> tuple[pd.DataFrame, str]:
        spec = source_spec(source)
        if source.builtin is not None:
            frame, origin = (
                sequences.builtin_sequences(source.builtin).load(),
                f"builtin:{source.builtin}",
            )
        else:
            frame, origin = super().load(source, root)
        check_sequences(frame, spec, f"The source {origin}")
        frame = ordered(frame, spec)
        frame.attrs[SPEC] = spec
        return frame, origin

    def split(
        self, data: pd.DataFrame, fraction: float, seed: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
        """Whole entities held out (a share `fraction` of them, at least one), never part of one."""
        spec = spec_of(data)
        entities = pd.unique(data[spec.key])
        count = min(len(entities) - 1, max(1, round(fraction * len(entities))))
        if count < 1:
            raise DataError(
                f"A holdout needs at least 2 sequences; the source has {len(entities)}. "
                "Set source.holdout_fraction: 0 or add sequences."
            )
        held = set(np.random.default_rng(seed).permutation(len(entities))[:count])
        is_held = data[spec.key].isin([entities[i] for i in sorted(held)]).to_numpy()
        positions = np.flatnonzero(is_held).tolist()
        kept = np.flatnonzero(~is_held).tolist()
        return self.subset(data, kept), self.subset(data, positions), positions

    def subset(self, data: pd.DataFrame, positions: Sequence[int]) -> pd.DataFrame:
        frame = data.iloc[list(positions)].reset_index(drop=True)
        frame.attrs[SPEC] = spec_of(data)
        return frame

    def check_conditions(self, real: RealData, conditions: dict[str, Any] | None) -> None:
        return None  # check_job refuses conditions

    def schema(self, real: RealData) -> pa.Schema:
        rows = real.train.copy()
        rows.attrs = {}  # the spec is no Parquet metadata
        return pa.Schema.from_pandas(rows, preserve_index=False)

    def expected_rows(self, job: JobView) -> int | None:
        # `rows:` counts sequences, whose lengths are drawn: `sequence.count` gates the count.
        return None

    def lineage_extra(self, job: JobView, generator: Generator) -> dict[str, Any]:
        spec = source_spec(job.source)
        return {"sequence": {"key": spec.key, "index": spec.index, "context": list(spec.context)}}

    # ---- validation ----------------------------------------------------------------------------
    def validate(self, job: JobView, real: RealData, parts: list[str]) -> ValidationReport:
        spec = spec_of(real.train)
        synthetic = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        rows = validate_table(
            real.train.drop(columns=[spec.key]),
            synthetic.drop(columns=[spec.key]),
            thresholds=job.validation,
            seed=job.seed,
            holdout=None if real.holdout is None else real.holdout.drop(columns=[spec.key]),
        )
        extra = sequence_checks(
            real.train,
            synthetic,
            spec,
            expected=job.rows,
            seed=job.seed,
            length_ks_max=job.validation.sequence_length_ks_max,
            lag1_error_max=job.validation.sequence_lag1_error_max,
        )
        return rows.model_copy(update={"checks": [*rows.checks, *extra]})


def source_spec(source: SourceConfig) -> SequenceSpec:
    """The source's sequence columns; a built-in's own where the source names none."""
    key, index = source.sequence_key, source.sequence_index
    if source.builtin is not None and source.builtin in sequences.SEQUENCE_BUILTINS:
        builtin = sequences.SEQUENCE_BUILTINS[source.builtin]
        key, index = key or builtin.key, index or builtin.index
    if key is None or index is None:
        raise ConfigError(
            "A sequence job's source names its sequence key and order column: set "
            "source.sequence_key (the entity, e.g. a firm) and source.sequence_index (the "
            "numeric or datetime column ordering its rows)."
        )
    return SequenceSpec(key, index, tuple(source.context_columns))


def spec_of(frame: pd.DataFrame) -> SequenceSpec:
    spec = frame.attrs.get(SPEC)
    if not isinstance(spec, SequenceSpec):
        raise DataError("This frame was not loaded by the sequence modality (no sequence spec).")
    return spec
