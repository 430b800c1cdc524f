"""Augment jobs: add class-conditional synthetic records to a labelled real training set.

```yaml
dataset: digits-augmented         # output: real + synthetic records, flagged and with provenance
source: {builtin: digits, holdout_fraction: 0.3}   # the holdout is never fitted nor augmented
generator: {name: vae, params: {conditional: true, steps: 600}}
seed: 0
augment:
  label: label                    # the class column (images: always `label`)
  mode: balance                   # balance: top every class up to target_count (default: largest)
  target_count: 100               # multiply: add round(factor x real count) per class
  reduce_per_class: 20            # optional: keep only N real training records per class
  downsample: {"3": 0.1}          # optional: keep this fraction of a class (make it a minority)
  uplift: {model: random_forest, seeds: 5}
  init: {strength: 0.5}           # optional: each synthetic record a variation of a real one
                                  # (images, ddpm); mask: center|boxes regenerates only a square
```
Everything else (shard_rows, column_sdtypes, validation, root) means what it means in a
generation job; the synthetic records are validated by the same gates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from core.image_masks import MaskPolicy
from generators.registry import get_generator_class
from job.config import (
    DATASET_NAME_PATTERN,
    GeneratorSpec,
    JobConfig,
    SourceConfig,
    StrictModel,
    parse_job,
    read_job_file,
    validate_config,
)
from modalities import generator_modality

AUGMENT_HOLDOUT_DEFAULT = 0.2
IMAGE_LABEL = "label"


class UpliftConfig(StrictModel):
    """The downstream classifier trained on real-only and on real + synthetic records."""

    model: Literal["random_forest", "logistic_regression", "hist_gradient_boosting"] = Field(
        "random_forest",
        description="random_forest varies with the seed; the others are (nearly) deterministic, "
        "so their spread over seeds is ~0",
    )
    seeds: int = Field(5, ge=2, description="classifier seeds; the report gives mean and std")


class InitConfig(StrictModel):
    """Start each synthetic record from a real one of its class (image-to-image / inpainting)."""

    strength: float = Field(
        ge=0, le=1, description="how far each real image is noised: 0 keeps it, 1 is pure noise"
    )
    mask: MaskPolicy | None = Field(
        None, description="center / boxes: regenerate only a square of each image (inpainting)"
    )
    mask_fraction: float = Field(0.5, gt=0, le=1, description="the square's side / image side")


class AugmentConfig(StrictModel):
    label: str = Field(IMAGE_LABEL, min_length=1, description="the class column")
    mode: Literal["balance", "multiply"]
    target_count: int | None = Field(
        None, ge=1, description="balance: records per class after augmenting (default: largest)"
    )
    factor: float | None = Field(
        None, gt=0, description="multiply: synthetic records per real record of each class"
    )
    reduce_per_class: int | None = Field(
        None, ge=1, description="keep only this many real training records per class (seeded)"
    )
    downsample: dict[str, float] = Field(
        default_factory=dict,
        description="class -> fraction of its real training records kept (seeded), in (0, 1]",
    )
    uplift: UpliftConfig = Field(default_factory=UpliftConfig)
    init: InitConfig | None = Field(
        None, description="synthetic records as variations of real ones (their parents)"
    )

    @model_validator(mode="after")
    def _mode_settings(self) -> AugmentConfig:
        if self.mode == "balance" and self.factor is not None:
            raise ValueError("factor applies to mode: multiply; balance takes target_count")
        if self.mode == "multiply":
            if self.factor is None:
                raise ValueError("mode: multiply needs factor (synthetic records per real record)")
            if self.target_count is not None:
                raise ValueError("target_count applies to mode: balance; multiply takes factor")
        return self

    @field_validator("downsample")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"downsample fractions must be in (0, 1]; got {bad}")
        return value


class AugmentJob(StrictModel):
    dataset: str = Field(pattern=DATASET_NAME_PATTERN)
    source: SourceConfig
    generator: GeneratorSpec
    seed: int = Field(0, ge=0)
    shard_rows: int = Field(100_000, ge=1)
    column_sdtypes: dict[str, str] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    root: str | None = None
    augment: AugmentConfig

    @model_validator(mode="after")
    def _augmentable(self) -> AugmentJob:
        if self.source.holdout_fraction == 0:
            raise ValueError(
                "source.holdout_fraction is 0, but augmenting is judged on an untouched real "
                f"holdout; set it above 0 (default {AUGMENT_HOLDOUT_DEFAULT})"
            )
        generator = get_generator_class(self.generator.name)
        config = generator.config_class(**self.generator.params)
        generator_modality(self.generator.name).check_augment(self.augment.label, config)
        if self.augment.init is not None and not getattr(generator, "starts_from_images", False):
            raise ValueError(
                f"augment.init needs a generator that starts from real images (ddpm); "
                f"{self.generator.name} does not: drop augment.init or change the generator"
            )
        fields = generator.config_class.model_fields
        columns = list(self.generator.params.get("conditional_columns", []))
        if "conditional_columns" in fields and columns != [self.augment.label]:
            # Native table generators condition only on the columns they were fitted for.
            raise ValueError(
                f"{self.generator.name} samples per class only when fitted conditioned on the "
                f"label: set generator.params.conditional_columns: [{self.augment.label}] "
                f"(got {columns})"
            )
        return self

    def generation_job(self, rows: int) -> JobConfig:
        """The generation job this augmentation fits and samples with (`rows` synthetic records).

        Loading the real data does not depend on `rows`; the flow passes the planned count once
        the class counts are known.
        """
        raw = self.model_dump(mode="json", exclude={"augment"}, exclude_none=True)
        fraction = self.source.holdout_fraction or AUGMENT_HOLDOUT_DEFAULT
        raw["source"]["holdout_fraction"] = fraction
        return parse_job({**raw, "rows": rows}, origin=f"augment job {self.dataset!r}")


def parse_augment_job(raw: dict[str, Any], origin: str = "augment job") -> AugmentJob:
    """Validate an augment job; every problem is reported in one ConfigError."""
    hint = (
        f"{origin} has no `augment:` section, so it is a generation job: "
        f"run it with `synth run {origin}`."
        if "augment" not in raw
        else ""
    )
    job = validate_config(AugmentJob, raw, origin, hint)
    job.generation_job(rows=1)  # the generation settings (e.g. validation thresholds) are valid
    return job


def load_augment_job(path: str | Path) -> AugmentJob:
    return parse_augment_job(read_job_file(path), origin=str(path))
