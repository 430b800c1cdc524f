"""Job configs: one YAML file describes a generation run, validated by pydantic.

```yaml
dataset: fair-synthetic          # output dataset name in the store
source: {builtin: fair}          # or {path: data/real.csv}
generator: {name: gaussian_copula, params: {}}
rows: 10000
seed: 0
shard_rows: 100000               # rows per Parquet part (and per sampling task)
conditions: {target: class_1}    # optional: fix column values in every row
column_sdtypes: {}               # optional: override detected SDV sdtypes
validation: {quality_min: 0.7}   # optional: gate thresholds (validators.Thresholds)
root: data                       # optional: store root (default ./data or $SYNTHPIPE_DATA_ROOT)
```
Unknown keys anywhere are errors that name the key and the allowed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from generators.base import parse_config
from generators.registry import get_generator_class
from synthpipe.errors import ConfigError
from synthpipe.metadata import SDTYPES
from validators.thresholds import Thresholds

DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(StrictModel):
    """Where the real data comes from: exactly one of `builtin` or `path`."""

    builtin: str | None = Field(None, description="wine, breast_cancer or fair")
    path: str | None = Field(
        None, description="a CSV or Parquet file, or a folder of Parquet files"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceConfig:
        if (self.builtin is None) == (self.path is None):
            raise ValueError("give exactly one of 'builtin' or 'path'")
        return self


class GeneratorSpec(StrictModel):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_and_valid(self) -> GeneratorSpec:
        # Fail at load time, not after the source was read: unknown name or bad params.
        parse_config(get_generator_class(self.name).config_class, self.name, self.params)
        return self


class JobConfig(StrictModel):
    dataset: str = Field(pattern=DATASET_NAME_PATTERN)
    source: SourceConfig
    generator: GeneratorSpec
    rows: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    shard_rows: int = Field(100_000, ge=1)
    conditions: dict[str, Any] | None = None
    column_sdtypes: dict[str, str] = Field(default_factory=dict)
    validation: Thresholds = Field(default_factory=Thresholds)
    root: str | None = None

    @field_validator("column_sdtypes")
    @classmethod
    def _known_sdtypes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {c: t for c, t in value.items() if t not in SDTYPES}
        if bad:
            raise ValueError(f"unknown sdtypes {bad}; use one of {list(SDTYPES)}")
        return value

    def generator_params(self) -> dict[str, Any]:
        """The generator's params with the job's sdtype overrides added where it takes them."""
        params = dict(self.generator.params)
        config_fields = get_generator_class(self.generator.name).config_class.model_fields
        if self.column_sdtypes and "column_sdtypes" in config_fields:
            params.setdefault("column_sdtypes", self.column_sdtypes)
        return params


def load_job(path: str | Path) -> JobConfig:
    """Read and validate a job YAML file; every problem is reported in one ConfigError."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Job file {file} does not exist.")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"Job file {file} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Job file {file} must hold a mapping of keys (dataset, source, ...).")
    return parse_job(raw, origin=str(file))


def parse_job(raw: dict[str, Any], origin: str = "job") -> JobConfig:
    try:
        return JobConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        raise ConfigError(f"{origin} is invalid:\n" + "\n".join(problems)) from None


def _describe(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_model_at(loc[:-1]).model_fields)
        return f"  - {where}: unknown key {loc[-1]!r}; allowed keys: {allowed}"
    message = err["msg"].removeprefix("Value error, ")
    return f"  - {where}: {message} (got {err.get('input')!r})"


def _model_at(loc: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = JobConfig
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model
