"""The modality plugin protocol: everything that differs between kinds of data, in one object.

A modality (table, image, prompted image; next: relational set, sequence, upscale) owns, for its
kind of data: the job options that apply to it (thresholds model, built-in sources, holdout
default, resource), loading and splitting its sources, fingerprinting, the records it writes
(parts, schema, views such as the imagefolder), its validation suite and its report section, and
what augmenting a labelled set of it means. The pipeline and flows call these methods and never
branch on the kind of data; `modalities.registry` finds the plugin by the generator's `modality`.

Plugins read a job through `JobView` (the attributes a `job.config.JobConfig` has), so they sit
below the job layer and the job config can ask them what a job of their kind may hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pandas as pd
import pyarrow as pa

from core.constraints import Constraint
from core.errors import ConfigError, DataError
from datastore import DatasetStore, DatasetVersion, FileEntry, StagedVersion
from generators import Generator
from generators.base import GeneratorConfig
from modalities.prompts import PromptsConfig
from sources.config import RELATIONAL_ONLY, SourceConfig
from validators import ValidationReport
from validators.html_report import Figure
from validators.thresholds import CheckSelection

# Inputs of the uplift classifiers: x_real, x_synthetic, y_synthetic, x_holdout, y_holdout.
UpliftInputs = tuple[Any, Any, Any, Any, Any]


class InitSettings(Protocol):
    """What an augment job's `init:` block says (`job.augment_config.InitConfig`)."""

    @property
    def strength(self) -> float: ...
    @property
    def mask(self) -> str | None: ...
    @property
    def mask_fraction(self) -> float: ...


class GeneratorView(Protocol):
    @property
    def name(self) -> str: ...


class JobView(Protocol):
    """What a plugin reads of a generation job (`job.config.JobConfig` has all of it)."""

    @property
    def source(self) -> SourceConfig: ...
    @property
    def generator(self) -> GeneratorView: ...
    @property
    def rows(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def conditions(self) -> dict[str, Any] | None: ...
    @property
    def balanced_labels(self) -> bool: ...
    @property
    def column_sdtypes(self) -> dict[str, str]: ...
    @property
    def constraints(self) -> tuple[Constraint, ...]: ...
    @property
    def validation(self) -> CheckSelection: ...
    @property
    def target(self) -> str | None: ...
    @property
    def root(self) -> str | None: ...
    @property
    def holdout_fraction(self) -> float: ...
    @property
    def prompts(self) -> PromptsConfig | None: ...


@dataclass(frozen=True)
class FileInputs:
    """What `synth validate` was given: real and synthetic data named on the command line, the
    thresholds file's mapping, and the options only some kinds of data take (a kind refuses
    those it does not, naming them)."""

    real: str
    synthetic: Path
    thresholds: dict[str, Any]
    seed: int = 0
    holdout: Path | None = None
    holdout_fraction: float | None = None
    target: str | None = None


@dataclass(frozen=True)
class FileValidation:
    """One `synth validate` run: the report, its title, its figures (drawn only if a report is
    written), what was validated (lineage), notes for the user (e.g. the holdout split off), and
    the synthetic records `--publish` stores (None where this kind cannot publish them)."""

    report: ValidationReport
    title: str
    figures: Callable[[], list[Figure]]
    lineage: dict[str, Any]
    notes: list[str]
    records: Any | None = None


@dataclass(frozen=True)
class RealData:
    """A job's real data, split: train and holdout in the modality's container (a DataFrame,
    an `ImageData`), fingerprints for lineage and the model cache, and where it came from."""

    modality: str  # the registered name of the plugin that loaded it
    train: Any
    holdout: Any | None
    holdout_indices: list[int]
    source_fingerprint: str
    train_fingerprint: str
    origin: str


class Modality(ABC):
    """One kind of data, as the job config, the pipeline and the flows see it."""

    name: ClassVar[str]  # registry key: generators' `modality`, manifests' and reports' `kind`
    thresholds: ClassVar[type[CheckSelection]]  # a job's `validation:` block; names the suite
    builtins: ClassVar[Collection[str]]  # built-in sources (`source.builtin`)
    holdout_default: ClassVar[float] = 0.2
    default_resource: ClassVar[str] = "cpu"  # the work pool / slot a job goes to by default

    # ---- job options ---------------------------------------------------------------------------
    @abstractmethod
    def check_job(self, job: JobView) -> None:
        """Raise ValueError (naming the fix) for options of the job that do not fit this kind."""

    def generator_defaults(self, job: JobView) -> dict[str, Any]:
        """Generator params the job's source implies (e.g. a table's sequence columns); the
        job's own `generator.params` win."""
        return {}

    def check_augment(self, label: str, config: GeneratorConfig) -> None:
        """Raise ValueError when a labelled set of this kind cannot be augmented as configured."""
        return None  # nothing to check / write unless the kind says so

    # ---- real data -----------------------------------------------------------------------------
    @abstractmethod
    def load(self, source: SourceConfig, root: str | Path) -> tuple[Any, str]:
        """The source's records in this kind's container, and their origin for lineage."""

    def load_job(self, job: JobView, root: str | Path) -> tuple[Any, str]:
        """The job's real records (its source, with what else of the job describes them, such
        as prompts), and their origin for lineage."""
        return self.load(job.source, root)

    @abstractmethod
    def split(self, data: Any, fraction: float, seed: int) -> tuple[Any, Any, list[int]]:
        """Train, a seeded holdout of `fraction` of the records, and the holdout's positions."""

    @abstractmethod
    def fingerprint(self, data: Any) -> str:
        """sha256 of the records, order included (lineage and the model cache key)."""

    @abstractmethod
    def subset(self, data: Any, positions: Sequence[int]) -> Any:
        """The records at `positions`, in that order."""

    def check_conditions(self, real: RealData, conditions: dict[str, Any] | None) -> None:
        """Fail before fitting when conditions name what the real data does not hold."""
        return None  # nothing to check / write unless the kind says so

    def check_target(self, real: RealData, target: str | None) -> None:
        """Fail before fitting when the utility target is not in the real data."""
        return None  # nothing to check / write unless the kind says so

    def check_constraints(self, real: RealData, constraints: Sequence[Constraint]) -> None:
        """Fail before fitting when the real data does not hold the declared constraints."""
        return None  # nothing to check / write unless the kind says so

    # ---- what a version holds ------------------------------------------------------------------
    @abstractmethod
    def schema(self, real: RealData) -> pa.Schema:
        """The Parquet schema every generated part is written with."""

    def sample_conditions(
        self, job: JobView, generator: Generator, rows: int, first_index: int
    ) -> Any:
        """The `conditions` a shard of `rows` records, the first at `first_index` in the whole
        version, is sampled with."""
        return job.conditions

    def records(
        self, frame: pd.DataFrame, *, schema: pa.Schema, seed: int, first_index: int
    ) -> pd.DataFrame:
        """A generator's sample as the rows a part of `schema` stores."""
        return frame

    def write_records(
        self, staged: StagedVersion, index: int, records: Any, schema: pa.Schema
    ) -> FileEntry | list[FileEntry]:
        """Write a shard's `records` as its part(s) of the staged version."""
        return staged.write_part(index, records, schema=schema)

    def expected_rows(self, job: JobView) -> int | None:
        """The rows a version of `job` holds in all, checked at commit (None: not fixed)."""
        return job.rows

    def add_views(self, staged: StagedVersion, grid_parts: Sequence[str | Path]) -> None:
        """Files beside the parts (e.g. a sample grid of `grid_parts`, an imagefolder)."""
        return None  # nothing to check / write unless the kind says so

    def lineage_extra(self, job: JobView, generator: Generator) -> dict[str, Any]:
        """What lineage records about the generator beyond its name and config."""
        return {}

    # ---- validation and report -----------------------------------------------------------------
    @abstractmethod
    def validate(self, job: JobView, real: RealData, parts: list[str]) -> ValidationReport:
        """The modality's suite on the staged parts, gated by the job's thresholds."""

    @abstractmethod
    def figures(
        self, job: JobView, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        """The modality's section of the HTML report."""

    # ---- validating files (`synth validate`) ---------------------------------------------------
    def reads_files(self, real: str) -> bool:
        """Whether `synth validate --real REAL` names data of this kind."""
        return False  # nothing to check / write unless the kind says so

    def validate_files(self, given: FileInputs) -> FileValidation:
        """Read `given`'s real and synthetic data, run this kind's suite on them."""
        raise ConfigError(f"`synth validate` does not read {self.name} data yet.")

    # ---- augmenting a labelled set -------------------------------------------------------------
    @abstractmethod
    def class_labels(self, train: Any, label: str) -> pd.Series:
        """Each record's class as a string (the key of plans and reports)."""

    @abstractmethod
    def augment_schema(self, train: Any) -> pa.Schema:
        """The augmented version's schema: the records' own columns plus provenance."""

    @abstractmethod
    def real_records(self, train: Any) -> pd.DataFrame:
        """The kept real records as rows of the augmented version."""

    @abstractmethod
    def class_conditions(self, wanted: list[str], train: Any, label: str) -> pd.DataFrame:
        """Conditions that make the generator draw one record of each `wanted` class."""

    def variations(
        self,
        generator: Generator,
        train: Any,
        parents: Sequence[int],
        wanted: list[str],
        init: InitSettings,
        seed: int,
    ) -> pd.DataFrame:
        """One record per `parents` position of `train`, each a variation of its parent in class
        `wanted[i]` (augment.init); a modality without them says so."""
        raise ConfigError(
            f"augment.init (variations of real records) is for images; the {self.name} "
            "modality has none: drop augment.init."
        )

    @abstractmethod
    def validate_augmented(
        self,
        job: JobView,
        label: str,
        train: Any,
        holdout: Any,
        plan: dict[str, int],
        parts: list[str],
    ) -> ValidationReport:
        """The generation gates on the synthetic records alone, against the kept real ones."""

    @abstractmethod
    def uplift_inputs(
        self, train: Any, holdout: Any, parts: list[str], label: str, sdtypes: dict[str, str]
    ) -> UpliftInputs:
        """Feature matrices and labels for the real-only vs augmented classifiers."""


def refuse_relational_options(job: JobView) -> None:
    """A ValueError naming the relational source options a job of another kind was given."""
    given = [key for key in RELATIONAL_ONLY if getattr(job.source, key) is not None]
    if given:
        raise ValueError(
            f"source options {given} apply to relational generators only (e.g. hma); "
            f"{job.generator.name!r} reads one table or images"
        )


def open_source_version(source: SourceConfig, root: str | Path) -> DatasetVersion:
    """The dataset version a `source.dataset` names; its parts are read through the manifest."""
    assert source.dataset is not None
    version = DatasetStore(root).open(source.dataset)
    if version.manifest.rows == 0:
        raise DataError(f"Source dataset {version.ref} has no rows; use a non-empty version.")
    return version
