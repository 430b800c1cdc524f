"""The one protocol every generator family implements: fit / sample / save / load.

Public methods validate their input and hold the shared bookkeeping; subclasses implement the
private `_fit`, `_sample`, `_save` and `_load` (the SDV pattern). A generator's typed config is
saved as `generator.json` beside its weights so `<family>.load(dir)` rebuilds it (the diffusers
pattern; `generators.load_saved_generator(dir)` picks the family by the saved name).

Key columns of a table (`core.metadata.key_columns`: declared `id` in `column_sdtypes`, or
detected) are handled here for every tabular family: `fit` keeps them from the family, and
`sample` fills them with fresh unique keys (`generators.keys`).

So are a table's constraints (`TabularConfig.constraints`, `core.constraints`): `fit` checks them
on the training rows and hands the family the table of `generators.constraint_plan` (constraints
turned into columns that always map back to valid rows), and `sample` turns the family's rows back,
re-drawing (bounded reject sampling) the rows that break a constraint no transform took.
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

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.constraints import Constraint, check_against, check_consistent
from core.errors import ConfigError, DataError, InfeasibleConstraintError, NotFittedError
from core.metadata import key_columns
from generators.constraint_plan import ConstraintPlan
from generators.keys import KeySpec
from generators.seeding import derive_seed

Conditions = Mapping[str, Any] | pd.DataFrame
CONFIG_FILE = "generator.json"
FORMAT_VERSION = 1
# Reject sampling for constraints: at most this many rounds, each drawing at most this many
# candidates per missing row (and rows in all); below this acceptance rate (after enough draws
# to measure it) the request is refused rather than left to run for hours.
REJECT_ROUNDS = 20
REJECT_MAX_COPIES = 50
REJECT_MIN_RATE = 0.01
REJECT_MIN_DRAWN = 200
REJECT_MAX_ROWS = 1_000_000  # candidates drawn in one round, to bound memory on big shards
REJECT_STREAM = 11  # derive_seed key of the re-draws, apart from the family's own streams

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
    constraints: tuple[Constraint, ...] = Field(
        (),
        description="Rules every sampled row holds (core.constraints: inequality, range, "
        "fixed_combinations, fixed_increments, one_hot, formula, predicate); a job's "
        "`constraints:` list.",
    )

    @field_validator("constraints")
    @classmethod
    def _consistent(cls, constraints: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
        check_consistent(constraints)
        return constraints


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
    # Whether the family trains under a job's `privacy:` block (DP-SGD with an accounted ε).
    supports_privacy: ClassVar[bool] = False

    def __init__(self, config: GeneratorConfig | Mapping[str, Any] | None = None, **params: Any):
        if isinstance(config, GeneratorConfig):
            if params:
                config = config.model_copy(update=params)
            self.config = parse_config(self.config_class, self.name, config.model_dump())
        else:
            self.config = parse_config(self.config_class, self.name, {**(config or {}), **params})
        self.columns: list[str] | None = None
        self.keys: list[KeySpec] = []
        self.plan: ConstraintPlan | None = None

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
        features = real.drop(columns=keys) if keys else real
        self.plan = self._constraint_plan(features, keys)
        self._fit(features if self.plan is None else self.plan.transform(features), seed=seed)
        self.columns = self._output_columns(real)
        return self

    def _constraint_plan(self, features: pd.DataFrame, keys: list[str]) -> ConstraintPlan | None:
        constraints = getattr(self.config, "constraints", ())
        if not constraints:
            return None
        keyed = sorted({c for constraint in constraints for c in constraint.reads()} & set(keys))
        if keyed:
            raise ConfigError(
                f"Constraints name key column(s) {keyed}, which every sample fills with fresh "
                "unique keys; constrain feature columns, or declare another sdtype for them "
                "in column_sdtypes."
            )
        checked = check_against(features, constraints, "the training data")
        return ConstraintPlan.build(features, checked, keep=self._kept_columns())

    def _kept_columns(self) -> tuple[str, ...]:
        """Columns the family needs as they are (no constraint transform may replace them)."""
        return ()

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
        fixed = self._condition_frame(conditions, n)
        lock = contextlib.nullcontext() if self.thread_safe else _PROCESS_STATE_LOCK
        with lock:
            if self.plan is None:
                frame = self._sample(n, seed=seed, conditions=fixed)
            else:
                frame = self._sample_constrained(self.plan, n, seed=seed, conditions=fixed)
        frame = frame.reset_index(drop=True)
        if not self.keys:
            return frame
        for spec in self.keys:
            frame[spec.column] = spec.values(n, first_row)
        return frame[self.columns]

    def _sample_constrained(
        self, plan: ConstraintPlan, n: int, *, seed: int, conditions: pd.DataFrame | None
    ) -> pd.DataFrame:
        """`n` rows holding every constraint: the family's rows turned back by the plan, and
        rows breaking a constraint re-drawn (each missing row with its own conditions), a
        bounded number of rounds, or InfeasibleConstraintError naming the acceptance rate."""
        learned = None if conditions is None else plan.conditions(conditions)
        if learned is not None and learned.shape[1] == 0:
            learned = None  # every condition is on a replaced column: `plan.inverse` sets them
        missing = np.arange(n)
        kept: list[pd.DataFrame] = []
        drawn = accepted = 0
        for round_ in range(REJECT_ROUNDS):
            # Candidates per missing row: enough to fill it at the rate measured so far.
            copies = 1 if not drawn else REJECT_MAX_COPIES
            if accepted:
                copies = min(copies, int(np.ceil(1.2 * drawn / accepted)))
            copies = max(1, min(copies, REJECT_MAX_ROWS // len(missing)))
            slots = np.tile(missing, copies)
            fixed = None if learned is None else learned.iloc[slots].reset_index(drop=True)
            round_seed = seed if round_ == 0 else derive_seed(seed, REJECT_STREAM, round_)
            drawn_rows = self._sample(len(slots), seed=round_seed, conditions=fixed)
            wanted = None if conditions is None else conditions.iloc[slots].reset_index(drop=True)
            frame = plan.inverse(drawn_rows.reset_index(drop=True), wanted)
            valid = np.flatnonzero(~plan.violated(frame))
            drawn, accepted = drawn + len(frame), accepted + len(valid)
            if conditions is None:
                take, filled = valid[: len(missing)], missing[: len(valid)]
            else:  # the first valid candidate of each missing row, drawn with its conditions
                filled, first = np.unique(slots[valid], return_index=True)
                take = valid[first]
            kept.append(frame.iloc[take].set_axis(filled))
            missing = np.setdiff1d(missing, filled)
            if not len(missing):
                return pd.concat(kept).sort_index()
            if drawn >= REJECT_MIN_DRAWN and accepted / drawn < REJECT_MIN_RATE:
                break
        rejected = plan.describe_rejected() or "rows a transform could not place"
        raise InfeasibleConstraintError(
            f"{self.name!r} could not sample {n:,} rows holding the constraints: "
            f"{accepted:,} of {drawn:,} drawn rows held them (acceptance rate "
            f"{accepted / drawn:.2%}; {len(missing):,} rows still missing after {round_ + 1} "
            f"rounds). Reject-sampled: {rejected}. "
            "Loosen those constraints or the conditions, or express them as inequality / range "
            "/ formula constraints, which hold by construction."
        )

    @property
    def feature_columns(self) -> list[str]:
        """The output columns other than the key columns."""
        keys = {spec.column for spec in self.keys}
        return [c for c in self.columns or [] if c not in keys]

    @property
    def learned_columns(self) -> list[str]:
        """The columns the family learns and samples: the feature columns, or the constraint
        plan's columns in their place."""
        return self.feature_columns if self.plan is None else list(self.plan.learned)

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
            "constraint_plan": None if self.plan is None else self.plan.to_state(),
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
        plan = payload.get("constraint_plan")
        if plan is not None:
            generator.plan = ConstraintPlan.from_state(plan, keep=generator._kept_columns())
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
        keyed = [str(c) for c in frame.columns if c not in self.feature_columns]
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
