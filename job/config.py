"""Job configs: one YAML file describes a generation run, validated by pydantic.

```yaml
dataset: fair-synthetic          # output dataset name in the store
source: {builtin: fair}          # or {path: real.csv}, {dataset: other@latest}, {builtin: digits}
                                 # images also: image_size, channels, max_image_pixels
generator: {name: gaussian_copula, params: {}}
rows: 10000
seed: 0
shard_rows: 100000               # rows per Parquet part (and per sampling task)
conditions: {target: class_1}    # optional: fix column values in every row (images: {label: "3"})
balanced_labels: false           # images: the same number of samples for every label
column_sdtypes: {}               # optional: override detected SDV sdtypes ("id": a key column)
validation: {quality_min: 0.7}   # optional: gate thresholds (Thresholds; images: ImageThresholds)
                                 # and checks by name: drop: [...], add: [...], checks: {...}
target: label                    # optional, tables: column for the TSTR / TRTR utility check
root: data                       # optional: store root, a path or fsspec URL (s3://bucket/x)
runner: {kind: threads, workers: null, address: null}  # optional: where shards run (threads|dask)
resource: cpu                    # cpu | gpu: work pool and GPU slot (default: gpu for image jobs)
```
Unknown keys anywhere are errors that name the key and the allowed ones. Job files (and
thresholds files) are plain YAML of at most `MAX_YAML_BYTES`, without aliases (`*name`): nested
aliases let a few hundred bytes expand to gigabytes (the "billion laughs").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from fsspec.utils import get_protocol
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.errors import ConfigError
from core.metadata import SDTYPES
from generators.base import parse_config
from generators.registry import get_generator_class
from sources.images import BUILTIN_IMAGES, MAX_IMAGE_PIXELS
from sources.tables import BUILTIN_TABLES
from validators.thresholds import ImageThresholds, Thresholds

IMAGE_HOLDOUT_DEFAULT = 0.2
TABLE_HOLDOUT_DEFAULT = 0.2  # privacy (DCR) and utility (TSTR) need real rows never fitted
DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
MAX_YAML_BYTES = 1_000_000  # a job file is a few hundred bytes; anything this big is a mistake
Config = TypeVar("Config", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(StrictModel):
    """Where the real data comes from: exactly one of `builtin`, `path` or `dataset`."""

    builtin: str | None = Field(
        None, description="tables: wine, breast_cancer, fair; images: digits"
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
    holdout_fraction: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="share of the real data kept out of training for the validators (seeded); "
        "default 0.2 (images and tables)",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceConfig:
        given = [key for key in ("builtin", "path", "dataset") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'builtin', 'path' or 'dataset' (got {given})")
        return self


class RunnerConfig(StrictModel):
    """Where the sampling shards run: a thread pool here (default) or a Dask cluster."""

    kind: Literal["threads", "dask"] = Field(
        "threads", description="threads: a pool in this process; dask: a Dask cluster"
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="threads: pool size; dask: processes of the local cluster started for the run "
        "(default: the CPU count)",
    )
    address: str | None = Field(
        None,
        description="dask only: scheduler of an existing cluster (tcp://host:8786); its workers "
        "must be able to read the store root and the model cache",
    )

    @model_validator(mode="after")
    def _options_fit_the_kind(self) -> RunnerConfig:
        if self.address is not None and self.kind != "dask":
            raise ValueError("address is for kind 'dask' only (the scheduler to connect to)")
        if self.address is not None and self.workers is not None:
            # The cluster at `address` already has its workers; silently ignoring the count
            # would mislead.
            raise ValueError("give either address (an existing cluster) or workers, not both")
        return self


class GeneratorSpec(StrictModel):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_and_valid(self) -> GeneratorSpec:
        # Fail at load time, not after the source was read: unknown name or bad params.
        parse_config(get_generator_class(self.name).config_class, self.name, self.params)
        return self

    @property
    def modality(self) -> str:
        return get_generator_class(self.name).modality


class JobConfig(StrictModel):
    dataset: str = Field(pattern=DATASET_NAME_PATTERN)
    source: SourceConfig
    generator: GeneratorSpec
    rows: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    shard_rows: int = Field(100_000, ge=1)
    conditions: dict[str, Any] | None = None
    balanced_labels: bool = False
    column_sdtypes: dict[str, str] = Field(default_factory=dict)
    validation: Thresholds | ImageThresholds = Field(
        default_factory=dict,
        validate_default=True,  # so an absent block also gets the modality's thresholds
        description="gate thresholds: validators.Thresholds for table generators, "
        "ImageThresholds for image generators",
    )
    target: str | None = Field(
        None,
        description="tables: the column a model predicts in the utility check (train on "
        "synthetic / test on the real holdout vs train on real); needs a holdout",
    )
    root: str | None = None
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    resource: Literal["cpu", "gpu"] = "cpu"

    @model_validator(mode="before")
    @classmethod
    def _default_resource(cls, data: Any) -> Any:
        # Image generators train far faster on a GPU, so image jobs go to the GPU pool unless
        # they say otherwise; tables default to the CPU pool.
        if isinstance(data, dict) and "resource" not in data and _is_image_job(data):
            return {**data, "resource": "gpu"}
        return data

    @field_validator("validation", mode="before")
    @classmethod
    def _thresholds_of_the_modality(
        cls, value: Any, info: ValidationInfo
    ) -> Thresholds | ImageThresholds:
        # The generator's modality decides, not pydantic's union matching: both threshold models
        # accept `{}` or shared keys, so a bare union would give an image job table thresholds.
        # `generator` is missing here when it failed itself; that error is reported already.
        generator = info.data.get("generator")
        image = generator is not None and generator.modality == "image"
        return (ImageThresholds if image else Thresholds).model_validate(value)

    @model_validator(mode="after")
    def _source_fits_the_modality(self) -> JobConfig:
        image = self.generator.modality == "image"
        if self.source.builtin is not None:
            names = BUILTIN_IMAGES if image else BUILTIN_TABLES
            if self.source.builtin not in names:
                kind = "image" if image else "table"
                raise ValueError(
                    f"source.builtin {self.source.builtin!r} is not a built-in {kind} dataset for "
                    f"the {self.generator.modality} generator {self.generator.name!r}; "
                    f"choose one of {sorted(names)}"
                )
        if image and self.root is not None and get_protocol(self.root) not in ("file", "local"):
            raise ValueError(
                f"image datasets need a local root for now (their grid and imagefolder views are "
                f"written as local files); got root {self.root!r}"
            )
        image_only = (self.source.image_size, self.source.channels, self.source.max_image_pixels)
        if not image and (any(image_only) or self.balanced_labels):
            raise ValueError(
                "image_size, channels, max_image_pixels and balanced_labels apply to image "
                "generators only"
            )
        if self.target is not None and image:
            raise ValueError("target applies to table jobs only (image jobs have labels)")
        if self.target is not None and self.holdout_fraction == 0:
            raise ValueError(
                f"target {self.target!r} needs real holdout rows to score on; set "
                f"source.holdout_fraction > 0 (default {TABLE_HOLDOUT_DEFAULT})"
            )
        return self

    @property
    def holdout_fraction(self) -> float:
        if self.source.holdout_fraction is not None:
            return self.source.holdout_fraction
        image = self.generator.modality == "image"
        return IMAGE_HOLDOUT_DEFAULT if image else TABLE_HOLDOUT_DEFAULT

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


class TableJob(JobConfig):
    """A job of a tabular generator: `validation` holds `validators.Thresholds`."""

    validation: Thresholds = Field(default_factory=Thresholds)


class ImageJob(JobConfig):
    """A job of an image generator: `validation` holds `validators.ImageThresholds`."""

    validation: ImageThresholds = Field(default_factory=ImageThresholds)


def _is_image_job(raw: dict[str, Any]) -> bool:
    """Whether a raw job names an image generator (an unknown generator is reported later)."""
    spec = raw.get("generator")
    name = spec.get("name") if isinstance(spec, dict) else None
    try:
        return name is not None and get_generator_class(name).modality == "image"
    except ConfigError:
        return False


def _job_class(raw: dict[str, Any]) -> type[JobConfig]:
    """The job type for the generator's modality."""
    return ImageJob if _is_image_job(raw) else TableJob


def load_job(path: str | Path) -> JobConfig:
    """Read and validate a job YAML file; every problem is reported in one ConfigError."""
    return parse_job(read_job_file(path), origin=str(path))


def read_job_file(path: str | Path) -> dict[str, Any]:
    """The mapping a job YAML file holds, or a ConfigError naming the file."""
    file = Path(path)
    raw = load_yaml_file(file, "Job file")
    if not isinstance(raw, dict):
        raise ConfigError(f"Job file {file} must hold a mapping of keys (dataset, source, ...).")
    return raw


def load_yaml_file(path: str | Path, what: str) -> Any:
    """What a small YAML file (`what`: "Job file", "Thresholds file") holds: safe tags only, no
    aliases, at most `MAX_YAML_BYTES`; otherwise a ConfigError naming the file (and line)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{what} {file} does not exist.")
    size = file.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(
            f"{what} {file} is {size:,} bytes; YAML files Synthpipe reads are limited to "
            f"{MAX_YAML_BYTES:,} bytes. Is it the right file?"
        )
    try:
        with file.open(encoding="utf-8") as stream:
            return yaml.load(stream, Loader=_NoAliasLoader)  # a SafeLoader: no Python tags
    except _AliasError as exc:
        raise ConfigError(
            f"{what} {file} uses the YAML alias *{exc.name} at line {exc.line}; aliases are not "
            "allowed (nested ones can expand a small file to gigabytes). Write the value out "
            "in full where it is needed."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {file} is not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {file} is not UTF-8 text ({exc.reason}).") from None
    except RecursionError:
        raise ConfigError(f"{what} {file} nests its values too deeply to read.") from None


class _AliasError(Exception):
    def __init__(self, name: str, line: int):
        super().__init__(name, line)
        self.name, self.line = name, line


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing aliases before they are expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasError(event.anchor, event.start_mark.line + 1)
        return super().compose_node(parent, index)


def parse_job(raw: dict[str, Any], origin: str = "job") -> JobConfig:
    hint = (
        f"{origin} has an `augment:` section, so it is an augment job: "
        f"run it with `synth augment {origin}`."
        if "augment" in raw
        else ""
    )
    return validate_config(_job_class(raw), raw, origin, hint)


def validate_config(
    model: type[Config], raw: dict[str, Any], origin: str, hint: str = ""
) -> Config:
    """`raw` validated as `model`; every problem in one ConfigError, followed by `hint` (how to
    fix the file as a whole) where there is one."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{origin} is invalid:", *(_describe(err, model) for err in exc.errors())]
        if hint:
            lines.append(hint)
        raise ConfigError("\n".join(lines)) from None


def _describe(err: dict[str, Any], job_class: type[BaseModel]) -> str:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_model_at(job_class, loc[:-1]).model_fields)
        return f"  - {where}: unknown key {loc[-1]!r}; allowed keys: {allowed}"
    message = err["msg"].removeprefix("Value error, ")
    return f"  - {where}: {message} (got {err.get('input')!r})"


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel]:
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model
