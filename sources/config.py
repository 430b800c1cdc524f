"""Where a job's real data comes from (`source:` in a job file): the reader of its modality
(`modalities`) interprets it; the options of one kind of data are refused for another there."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.relational import Relationship
from sources.images import MAX_IMAGE_PIXELS

RELATIONAL_ONLY = ("tables", "table_rows", "primary_keys", "relationships")


class SourceConfig(BaseModel):
    """Where the real data comes from: exactly one of `builtin`, `path` or `dataset`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    builtin: str | None = Field(
        None,
        description="a built-in real dataset: tables wine, breast_cancer, fair, diabetes; "
        "images digits",
    )
    path: str | None = Field(
        None,
        description="a CSV / Parquet file or folder of Parquet parts; for images a folder with "
        "one subfolder of PNG/JPEG files per class, or Synthpipe image Parquet",
    )
    dataset: str | None = Field(None, description="a Synthpipe dataset version, e.g. name@latest")
    image_size: int | None = Field(None, ge=4, description="images: resize to this square side")
    channels: Literal[1, 3] | None = Field(None, description="images: 1 grayscale, 3 RGB")
    max_image_pixels: int | None = Field(
        None,
        ge=1,
        description="images: refuse an image of more pixels (width x height) than this, checked "
        f"before decoding; default {MAX_IMAGE_PIXELS:,} (4096 x 4096)",
    )
    tables: tuple[str, ...] | None = Field(
        None, description="relational: keep only these tables of the source (default all)"
    )
    table_rows: dict[str, int] | None = Field(
        None,
        description="relational: a seeded random sample of this many rows of these tables; "
        "child rows whose parent is left out go with it",
    )
    primary_keys: dict[str, str] | None = Field(
        None, description="relational: {table: column}, overriding the detected primary keys"
    )
    relationships: tuple[Relationship, ...] | None = Field(
        None,
        description="relational: [{parent, parent_key, child, child_key}], replacing the "
        "detected relationships",
    )
    holdout_fraction: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="share of the real data kept out of training for the validators (seeded); "
        "default 0.2 (images and tables)",
    )

    sequence_key: str | None = Field(
        None,
        description="sequences: the column naming each row's entity (default for built-ins: "
        "grunfeld firm, macrodata decade)",
    )
    sequence_index: str | None = Field(
        None,
        description="sequences: the numeric or datetime column ordering an entity's rows "
        "(default for built-ins: grunfeld year, macrodata period)",
    )
    context_columns: tuple[str, ...] = Field(
        (), description="sequences: columns holding one value per entity"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceConfig:
        rows = self.table_rows or {}
        if any(n < 1 for n in rows.values()):
            raise ValueError(f"table_rows must be positive row counts (got {rows})")
        given = [key for key in ("builtin", "path", "dataset") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'builtin', 'path' or 'dataset' (got {given})")
        return self
