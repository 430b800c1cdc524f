"""The one protocol every generator family implements: fit / sample / save / load.

Public methods validate their input and hold the shared bookkeeping; subclasses implement the
private `_fit`, `_sample`, `_save` and `_load` (the SDV pattern). A generator's typed config is
saved as `generator.json` beside its weights so `<family>.load(dir)` rebuilds it (the diffusers
pattern; `generators.load_saved_generator(dir)` picks the family by the saved name).

Key columns of a table (`core.metadata.key_columns`: declared `id` in `column_sdtypes`, or
detected) are handled here for every tabular family: `fit` keeps them from the family, and
`sample` fills them with fresh unique keys (`generators.keys`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError, DataError, NotFittedError
from core.metadata import key_columns
from generators.keys import KeySpec

Conditions = Mapping[str, Any] | pd.DataFrame
CONFIG_FILE = "generator.json"
FORMAT_VERSION = 1

# One lock for every generator that touches process-wide random state (SDV reseeds numpy's global
# RandomState while sampling): two of them sampling at once in threads would interleave draws and
# break same-seed determinism, whatever their classes.
_PROCESS_STATE_LOCK = threading.RLock()


class GeneratorConfig(BaseModel):
    """Base of every generator's typed config: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Fields that steer a run (progress output, device, sampler) without changing what is
    # learned: a fitted generator may change them, and the fitted-model cache key leaves them out.
    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def learned_params(self) -> dict[str, Any]:
        """The config without its run fields: what determines the fitted model."""
        return self.model_dump(mode="json", exclude=set(self.RUN_FIELDS))


class TabularConfig(GeneratorConfig):
    """Base of every table generator's config: the sdtype overrides that also declare keys."""

    column_sdtypes: dict[str, str] = Field(
        default_factory=dict,
        description="Override detected SDV sdtypes, e.g. {'target': 'categorical'}; 'id' "
        "declares a key column (regenerated unique, never learned), any other sdtype keeps a "
        "column from being detected as a key. The SDV families also use them as metadata.",
    )


def parse_config(config_class: type[GeneratorConfig], name: str, params: Mapping[str, Any]):
    """Validate `params` into `config_class`, turning pydantic errors into one ConfigError."""
    try:
        return config_class.model_validate(dict(params))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(config)"
            problems.append(f"  - {key}: {err['msg']} (got {err.get('input')!r})")
        allowed = ", ".join(config_class.model_fields)
        raise ConfigError(
            f"Invalid parameters for generator {name!r}:\n" + "\n".join(problems) + "\n"
            f"Allowed parameters: {allowed}."
        ) from None


class Generator(ABC):
    """A generative model behind the common protocol.

    Subclasses set `config_class` and `modality`; `name` is set by `@register`.
    """

    name: ClassVar[str] = ""
    # The kind of data it makes: the name of a modality plugin (`modalities`: "table", "image").
    modality: ClassVar[str]
    config_class: ClassVar[type[GeneratorConfig]]

    def __init__(self, config: GeneratorConfig | Mapping[str, Any] | None = None, **params: Any):
        if isinstance(config, GeneratorConfig):
            if params:
                config = config.model_copy(update=params)
            self.config = parse_config(self.config_class, self.name, config.model_dump())
        else:
            self.config = parse_config(self.config_class, self.name, {**(config or {}), **params})
        self.columns: list[str] | None = None
        self.keys: list[KeySpec] = []

    @property
    def thread_safe(self) -> bool:
        """Whether `sample` may run in several threads of one process at once; False unless a
        family draws only from its own RNG objects and changes no process-wide setting."""
        return False

    @property
    def fitted(self) -> bool:
        return self.columns is not None

    def with_run_options(self, **options: Any) -> Self:
        """A copy sharing the fitted model, with run fields (e.g. a sampler) changed."""
        unknown = sorted(set(options) - self.config.RUN_FIELDS)
        if unknown:
            raise ConfigError(
                f"{unknown} cannot change after fitting {self.name!r}; run options are "
                f"{sorted(self.config.RUN_FIELDS)}."
            )
        twin = copy.copy(self)
        twin.config = parse_config(
            self.config_class, self.name, {**self.config.model_dump(), **options}
        )
        return twin

    # ---- public protocol -------------------------------------------------------------------
    def fit(self, real: pd.DataFrame, *, seed: int = 0) -> Self:
        """Learn from `real`; the same data, config and seed give the same fitted model on CPU."""
        self._check_real(real)
        self.keys = self._key_specs(real)
        keys = [spec.column for spec in self.keys]
        self._fit(real.drop(columns=keys) if keys else real, seed=seed)
        self.columns = self._output_columns(real)
        return self

    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        conditions: Conditions | None = None,
        first_row: int = 0,
    ) -> pd.DataFrame:
        """Draw `n` rows; `conditions` fixes column values (one mapping for all rows, or a frame
        with one row per sample). `first_row` is the position of the first row in the whole
        output: key columns number rows from it, so shards sampled apart get distinct keys."""
        if not self.fitted:
            raise NotFittedError(
                f"Generator {self.name!r} is not fitted; call fit(real) or load(dir) first."
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"sample(n=...) needs a positive integer number of rows; got {n!r}.")
        if isinstance(first_row, bool) or not isinstance(first_row, int) or first_row < 0:
            raise ConfigError(f"sample(first_row=...) needs an integer >= 0; got {first_row!r}.")
        lock = contextlib.nullcontext() if self.thread_safe else _PROCESS_STATE_LOCK
        with lock:
            frame = self._sample(n, seed=seed, conditions=self._condition_frame(conditions, n))
        frame = frame.reset_index(drop=True)
        if not self.keys:
            return frame
        for spec in self.keys:
            frame[spec.column] = spec.values(n, first_row)
        return frame[self.columns]

    @property
    def learned_columns(self) -> list[str]:
        """The output columns the family learns and samples: all but the key columns."""
        keys = {spec.column for spec in self.keys}
        return [c for c in self.columns or [] if c not in keys]

    def save(self, path: str | Path) -> Path:
        """Write config and weights into directory `path` (created if needed)."""
        if not self.fitted:
            raise NotFittedError(f"Generator {self.name!r} is not fitted; nothing to save.")
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "format_version": FORMAT_VERSION,
            "generator": self.name,
            "config": self.config.model_dump(mode="json"),
            "columns": self.columns,
            "keys": [spec.model_dump() for spec in self.keys],
        }
        (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2))
        self._save(directory)
        return directory

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Rebuild a generator of this family saved in directory `path`
        (`generators.load_saved_generator(dir)` picks the family from the saved name)."""
        directory = Path(path)
        payload = _saved_payload(directory)
        saved = payload["generator"]
        if saved != cls.name:
            # The base class cannot pick a family: that name lookup is the registry's.
            wanted = f"not a {cls.name!r} one" if cls.name else f"and {cls.__name__} is no family"
            raise ConfigError(
                f"{directory} holds a {saved!r} generator, {wanted}; load it with "
                "generators.load_saved_generator(dir), which picks the family by its saved name."
            )
        generator = cls(payload["config"])
        generator._load(directory)
        generator.columns = list(payload["columns"])
        generator.keys = [KeySpec.model_validate(spec) for spec in payload.get("keys", [])]
        return generator

    # ---- input checks (tabular by default; other modalities override) -----------------------
    def _output_columns(self, real: Any) -> list[str]:
        """The columns `sample` returns (and `conditions` may name)."""
        return [str(c) for c in real.columns]

    def _key_specs(self, real: Any) -> list[KeySpec]:
        """The key columns of the training table and how to regenerate them."""
        if not isinstance(self.config, TabularConfig):
            return []  # keys are columns of a table; other modalities have none
        keys = key_columns(real, self.config.column_sdtypes)
        if len(keys) == real.shape[1]:
            raise DataError(
                f"Every column of the training data is a key column ({keys}); there is nothing "
                "to learn. Add feature columns, or declare another sdtype in column_sdtypes."
            )
        return [KeySpec.learn(column, real[column]) for column in keys]

    def _check_real(self, real: pd.DataFrame) -> None:
        if not isinstance(real, pd.DataFrame):
            raise DataError(
                f"Generator {self.name!r} fits a pandas DataFrame; got {type(real).__name__}."
            )
        if real.shape[1] == 0:
            raise DataError("The training data has no columns.")
        if len(real) < 2:
            raise DataError(
                f"The training data has {len(real)} row(s); at least 2 are needed to learn from."
            )
        duplicated = sorted({str(c) for c in real.columns[real.columns.duplicated()]})
        if duplicated:
            raise DataError(f"The training data has duplicated column names: {duplicated}.")
        empty = [str(c) for c in real.columns if real[c].isna().all()]
        if empty:
            raise DataError(
                f"Column(s) {empty} are entirely missing in the training data; "
                "drop them or fill them before fitting."
            )

    def _condition_frame(self, conditions: Conditions | None, n: int) -> pd.DataFrame | None:
        if conditions is None:
            return None
        if isinstance(conditions, pd.DataFrame):
            if len(conditions) != n:
                raise ConfigError(
                    f"A conditions frame needs one row per sample: got {len(conditions)} rows "
                    f"for n={n}."
                )
            frame = conditions.reset_index(drop=True)
        elif isinstance(conditions, Mapping):
            frame = pd.DataFrame({k: [v] * n for k, v in conditions.items()})
        else:
            raise ConfigError(
                f"conditions must be a mapping or a DataFrame; got {type(conditions).__name__}."
            )
        unknown = [str(c) for c in frame.columns if c not in (self.columns or [])]
        if unknown:
            raise DataError(
                f"Condition column(s) {unknown} are not in the training data; "
                f"available columns: {self.columns}."
            )
        keyed = [str(c) for c in frame.columns if c not in self.learned_columns]
        if keyed:
            raise ConfigError(
                f"Condition column(s) {keyed} are key columns, which every sample fills with "
                "fresh unique keys; condition on other columns."
            )
        if frame.shape[1] == 0:
            return None
        return frame

    # ---- what a family implements ----------------------------------------------------------
    @abstractmethod
    def _fit(self, real: pd.DataFrame, *, seed: int) -> None: ...

    @abstractmethod
    def _sample(self, n: int, *, seed: int, conditions: pd.DataFrame | None) -> pd.DataFrame: ...

    @abstractmethod
    def _save(self, directory: Path) -> None: ...

    @abstractmethod
    def _load(self, directory: Path) -> None: ...


def saved_generator_name(path: str | Path) -> str:
    """The registry name of the generator saved in directory `path`."""
    return str(_saved_payload(Path(path))["generator"])


def _saved_payload(directory: Path) -> dict[str, Any]:
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise DataError(
            f"{config_path} does not exist: {directory} is not a saved generator "
            "(save one with generator.save(dir))."
        )
    return json.loads(config_path.read_text())
