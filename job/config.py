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
prompts: "a photo of a {label}"  # text-to-image generators: a template, or {label: template}
column_sdtypes: {}               # optional: override detected SDV sdtypes ("id": a key column)
constraints:                     # optional, tables: rules every synthetic row holds
  - {kind: inequality, low: start, high: end, strict: true}   # core.constraints: also range,
  - {kind: formula, column: total, expression: "price * qty"} # fixed_combinations, one_hot,
                                                              # fixed_increments, predicate
validation: {quality_min: 0.7}   # optional: gate thresholds (Thresholds; images: ImageThresholds)
                                 # and checks by name: drop: [...], add: [...], checks: {...}
target: label                    # optional, tables: column for the TSTR / TRTR utility check
privacy: {epsilon: 3}            # optional: DP budget; refused by generators without DP-SGD
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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.constraints import Constraint, check_consistent
from core.errors import ConfigError
from core.metadata import SDTYPES
from generators.base import parse_config
from generators.dp_accounting import PrivacyConfig
from generators.registry import get_generator_class, private_generators
from modalities import Modality, generator_modality
from modalities.prompts import PromptsConfig
from sources.config import SourceConfig
from validators.thresholds import CheckSelection

DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
MAX_YAML_BYTES = 1_000_000  # a job file is a few hundred bytes; anything this big is a mistake
Config = TypeVar("Config", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        """The name of the modality plugin of the data this generator makes."""
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
    prompts: PromptsConfig | None = Field(
        None,
        description="text-to-image generators: the prompt of each label's images, a template "
        '("a photo of a {label}") or a mapping label -> template; rows are spread evenly over '
        "the labels it names",
    )
    column_sdtypes: dict[str, str] = Field(default_factory=dict)
    constraints: tuple[Constraint, ...] = Field(
        (),
        description="tables: rules every synthetic row holds (core.constraints), checked on the "
        "source when it loads, enforced by the generator and gated by constraints.violations",
    )
    validation: SerializeAsAny[CheckSelection] = Field(
        default_factory=dict,
        validate_default=True,  # so an absent block also gets the modality's thresholds
        description="gate thresholds and checks by name: the thresholds model of the generator's "
        "modality (validators.Thresholds for tables, ImageThresholds for images)",
    )
    target: str | None = Field(
        None,
        description="tables: the column a model predicts in the utility check (train on "
        "synthetic / test on the real holdout vs train on real); needs a holdout",
    )
    privacy: PrivacyConfig | None = Field(
        None,
        description="differential privacy: {epsilon, delta, max_grad_norm}; only generators "
        "that train with DP-SGD accept it (generators.registry.private_generators)",
    )
    root: str | None = None
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    resource: Literal["cpu", "gpu"] = "cpu"

    @model_validator(mode="before")
    @classmethod
    def _default_resource(cls, data: Any) -> Any:
        # The modality says where its jobs run by default (images: the GPU pool).
        modality = _raw_modality(data)
        if isinstance(data, dict) and "resource" not in data and modality is not None:
            return {**data, "resource": modality.default_resource}
        return data

    @field_validator("validation", mode="before")
    @classmethod
    def _thresholds_of_the_modality(cls, value: Any, info: ValidationInfo) -> CheckSelection:
        # The generator's modality decides which thresholds model parses the block.
        # `generator` is missing here when it failed itself; that error is reported already.
        generator = info.data.get("generator")
        if generator is None:
            return CheckSelection.model_validate({})
        return generator_modality(generator.name).thresholds.model_validate(value)

    @model_validator(mode="after")
    def _source_fits_the_modality(self) -> JobConfig:
        modality = self.modality
        if self.source.builtin is not None and self.source.builtin not in modality.builtins:
            raise ValueError(
                f"source.builtin {self.source.builtin!r} is not a built-in {modality.name} "
                f"dataset for the {modality.name} generator {self.generator.name!r}; "
                f"choose one of {sorted(modality.builtins)}"
            )
        modality.check_job(self)
        generator_class = get_generator_class(self.generator.name)
        if self.privacy is not None and not generator_class.supports_privacy:
            capable = private_generators()
            raise ValueError(
                f"generator {self.generator.name!r} cannot train under differential privacy, so "
                "it refuses a `privacy:` block; generators that can: "
                f"{capable or 'none yet (DP-SGD for argn and tabddpm is not landed)'}"
            )
        return self

    @property
    def privacy_statement(self) -> str:
        """What the version's lineage says about formal privacy."""
        if self.privacy is None:
            return "no formal privacy guarantee"
        delta = "below 1/rows" if self.privacy.delta is None else self.privacy.delta
        return f"(epsilon={self.privacy.epsilon}, delta={delta})-differential privacy"

    @property
    def modality(self) -> Modality:
        """The plugin of the data this job's generator makes."""
        return generator_modality(self.generator.name)

    @property
    def holdout_fraction(self) -> float:
        if self.source.holdout_fraction is not None:
            return self.source.holdout_fraction
        return self.modality.holdout_default

    @field_validator("column_sdtypes")
    @classmethod
    def _known_sdtypes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {c: t for c, t in value.items() if t not in SDTYPES}
        if bad:
            raise ValueError(f"unknown sdtypes {bad}; use one of {list(SDTYPES)}")
        return value

    @field_validator("constraints")
    @classmethod
    def _consistent(cls, constraints: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
        check_consistent(constraints)
        return constraints

    def generator_params(self) -> dict[str, Any]:
        """The generator's params with the job's sdtype overrides and constraints added where
        it takes them (constraints change what is learned, so they are part of the model key)."""
        params = {**self.modality.generator_defaults(self), **self.generator.params}
        config_fields = get_generator_class(self.generator.name).config_class.model_fields
        if self.column_sdtypes and "column_sdtypes" in config_fields:
            params.setdefault("column_sdtypes", self.column_sdtypes)
        if self.constraints and "constraints" in config_fields:
            params.setdefault("constraints", [c.model_dump(mode="json") for c in self.constraints])
        return params


def _raw_modality(raw: Any) -> Modality | None:
    """The modality of a raw job's generator (None when unknown: that is reported later)."""
    spec = raw.get("generator") if isinstance(raw, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    try:
        return generator_modality(name) if isinstance(name, str) else None
    except ConfigError:
        return None


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
    return validate_config(JobConfig, raw, origin, hint)


def validate_config(
    model: type[Config], raw: dict[str, Any], origin: str, hint: str = ""
) -> Config:
    """`raw` validated as `model`; every problem in one ConfigError, followed by `hint` (how to
    fix the file as a whole) where there is one."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{origin} is invalid:", *(_describe(err, model, raw) for err in exc.errors())]
        if hint:
            lines.append(hint)
        raise ConfigError("\n".join(lines)) from None


def _describe(err: dict[str, Any], job_class: type[BaseModel], raw: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_model_at(job_class, loc[:-1], raw).model_fields)
        return f"  - {where}: unknown key {loc[-1]!r}; allowed keys: {allowed}"
    message = err["msg"].removeprefix("Value error, ")
    return f"  - {where}: {message} (got {err.get('input')!r})"


def _model_at(model: type[BaseModel], loc: list[str], raw: dict[str, Any]) -> type[BaseModel]:
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if annotation is CheckSelection:
            # `validation` is parsed by the thresholds model of the generator's modality.
            modality = _raw_modality(raw)
            annotation = modality.thresholds if modality is not None else annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model
