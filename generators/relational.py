"""Generators of relational datasets (`core.relational.RelationalData`): the shared protocol and
SDV's `HMASynthesizer` (`hma`).

A relational sample of `n` rows draws every table at the scale `n / rows of the largest training
table`, so `rows` in a job is about the size of the biggest table (flights, transactions). Keys
are assigned by construction (every foreign key value is a sampled parent's primary key), and a
version is sampled in one shard: keys numbered across shards would need a shared plan.

HMA is saved as SDV's cloudpickle, signed like the single-table SDV families
(`generators.sdv_tabular`: `core.signing`; nothing in a store runs unsigned code).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import Field

from core.errors import ConfigError, DataError, NotFittedError
from core.relational import RelationalData, Relationship, child_counts, depth, sdv_metadata
from core.signing import read_signed, write_signed
from generators.base import _PROCESS_STATE_LOCK, Conditions, Generator, GeneratorConfig
from generators.registry import register
from generators.sdv_tabular import MODEL_FILE, _private_file, _refit_hint
from generators.seeding import derive_seed, seeded

SPEC_FILE = "relational_spec.json"
# SDV's HMASynthesizer refuses bigger schemas (`_validate_schema_complexity`).
HMA_MAX_TABLES, HMA_MAX_DEPTH = 5, 2


class RelationalConfig(GeneratorConfig):
    column_sdtypes: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Override detected SDV sdtypes per table: {table: {column: sdtype}}.",
    )


class RelationalGenerator(Generator):
    """What every relational family shares: the checks, the scale of a sample, the saved keys."""

    modality = "relational"

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self.primary_keys: dict[str, str] = {}
        self.relationships: tuple[Relationship, ...] = ()
        self.training_rows: dict[str, int] = {}

    def fit(self, real: RelationalData, *, seed: int = 0) -> Self:  # type: ignore[override]
        if not isinstance(real, RelationalData):
            raise DataError(
                f"Generator {self.name!r} fits a RelationalData; got {type(real).__name__}."
            )
        small = [name for name, rows in real.rows.items() if rows < 2]
        if small:
            raise DataError(f"Table(s) {small} have fewer than 2 rows; nothing to learn from.")
        self.primary_keys = dict(real.primary_keys)
        self.relationships = real.relationships
        self.training_rows = real.rows
        self._fit(real, seed=seed)
        self.columns = list(real.tables)  # the tables `sample` returns
        return self

    def sample(  # type: ignore[override]
        self,
        n: int,
        *,
        seed: int = 0,
        conditions: Conditions | None = None,
        first_row: int = 0,
    ) -> RelationalData:
        """A dataset whose largest table has about `n` rows, every key consistent."""
        if not self.fitted:
            raise NotFittedError(f"Generator {self.name!r} is not fitted; call fit(real) first.")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"sample(n=...) needs a positive integer number of rows; got {n!r}.")
        if conditions is not None:
            raise ConfigError(f"{self.name!r} samples relational datasets without conditions.")
        if first_row:
            raise ConfigError(
                "A relational dataset is sampled in one shard (keys are assigned across its "
                f"tables); set shard_rows >= rows (got a shard starting at row {first_row:,})."
            )
        scale = n / max(self.training_rows.values())
        with _PROCESS_STATE_LOCK:
            return self._sample_tables(scale, seed=seed)

    def save(self, path: str | Path) -> Path:
        directory = super().save(path)
        spec = {
            "primary_keys": self.primary_keys,
            "relationships": [vars(r) for r in self.relationships],
            "training_rows": self.training_rows,
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        return directory

    @classmethod
    def load(cls, path: str | Path) -> Self:
        generator = super().load(path)
        spec = json.loads((Path(path) / SPEC_FILE).read_text())
        generator.primary_keys = spec["primary_keys"]
        generator.relationships = tuple(Relationship(**r) for r in spec["relationships"])
        generator.training_rows = spec["training_rows"]
        return generator

    def _sample(self, n: int, *, seed: int, conditions: Any) -> Any:
        raise NotImplementedError  # relational families implement `_sample_tables`

    def _sample_tables(self, scale: float, *, seed: int) -> RelationalData:
        raise NotImplementedError

    def _fit(self, real: Any, *, seed: int) -> None:
        raise NotImplementedError


@register("hma")
class HMAGenerator(RelationalGenerator):
    """SDV HMASynthesizer: a Gaussian copula per table, each parent row extended with the
    learned parameters of its children's distributions (recursively)."""

    config_class = RelationalConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._synthesizer: Any = None

    def _fit(self, real: RelationalData, *, seed: int) -> None:
        from sdv.multi_table import HMASynthesizer

        if len(real.tables) > HMA_MAX_TABLES or depth(real) > HMA_MAX_DEPTH:
            raise ConfigError(
                f"hma models at most {HMA_MAX_TABLES} tables, {HMA_MAX_DEPTH} levels deep "
                f"(SDV's limit); the source has {len(real.tables)} tables, {depth(real)} levels "
                f"({[r.describe() for r in real.relationships]}). Keep fewer tables with "
                "source.tables, or use argn_relational, which has no such limit."
            )
        metadata = sdv_metadata(real, self.config.column_sdtypes)
        with seeded(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SDV warns about every transformer it picks
            synthesizer = HMASynthesizer(metadata, verbose=False)
            synthesizer.fit(dict(real.tables))
        self._synthesizer = synthesizer

    def _sample_tables(self, scale: float, *, seed: int) -> RelationalData:
        with seeded(derive_seed(seed, 1)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # SDV restarts from fixed seeds: derive them from `seed` (equal seeds repeat exactly).
            self._synthesizer.reset_sampling()
            self._synthesizer._numpy_seed = derive_seed(seed, 0)
            for index, name in enumerate(sorted(self._synthesizer._table_synthesizers)):
                table = self._synthesizer._table_synthesizers[name]
                table._set_random_state(derive_seed(seed, 2, index))
            tables = self._synthesizer.sample_scale(scale=scale)
        return RelationalData(tables, self.primary_keys, self.relationships)

    def _save(self, directory: Path) -> None:
        with _private_file() as scratch:
            self._synthesizer.save(str(scratch))
            write_signed(directory / MODEL_FILE, scratch.read_bytes())

    def _load(self, directory: Path) -> None:
        from sdv.utils import load_synthesizer

        data = read_signed(directory / MODEL_FILE, fix=_refit_hint(directory))
        with _private_file() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scratch.write_bytes(data)
            self._synthesizer = load_synthesizer(str(scratch))


COUNT_PREFIX, CONTEXT_PREFIX = "__children__.", "__parent__."
TABLES_DIR, PLAN_FILE = "tables", "argn_relational_plan.json"


class RelationalARGNConfig(GeneratorConfig):
    argn: dict[str, Any] = Field(
        default_factory=dict,
        description="argn settings for every table's model, e.g. {max_epochs: 20, width: 32}.",
    )


def _count_column(rel: Relationship) -> str:
    return f"{COUNT_PREFIX}{rel.child}.{rel.child_key}"


def _features(real: RelationalData, table: str) -> list[str]:
    keys = {real.primary_keys.get(table)} | {r.child_key for r in real.parents(table)}
    return [str(c) for c in real.tables[table].columns if c not in keys]


@register("argn_relational")
class RelationalARGNGenerator(RelationalGenerator):
    """Our own relational model on `argn`: each table one argn model. A child table's model is
    conditioned on its context parent's row (the first relationship whose foreign key is never
    empty): its columns lead the child's, so children follow their parent. Each parent's model
    also learns, per relationship, its number of children (`__children__.<child>.<key>`), so a
    sampled parent draws its child count given its own columns. Children of the context parent
    are drawn per parent row; other foreign keys go to parents drawn in proportion to their
    sampled child counts (the child-count shape of every relationship is kept). Keys are new and
    assigned by construction, so referential integrity holds."""

    config_class = RelationalARGNConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._models: dict[str, Generator] = {}
        self._plan: dict[str, dict[str, Any]] = {}

    def _fit(self, real: RelationalData, *, seed: int) -> None:
        from generators.keys import KeySpec
        from generators.registry import create_generator

        for index, (name, frame) in enumerate(real.tables.items()):
            training = frame[_features(real, name)].reset_index(drop=True)
            for rel in real.children(name):
                counts = child_counts(frame[rel.parent_key], real.tables[rel.child][rel.child_key])
                training[_count_column(rel)] = counts
            context = next(
                (r for r in real.parents(name) if frame[r.child_key].notna().all()), None
            )
            context_columns: list[str] = []
            if context is not None:
                parent = real.tables[context.parent].set_index(context.parent_key)
                columns = _features(real, context.parent)
                joined = parent.loc[frame[context.child_key], columns].reset_index(drop=True)
                context_columns = [CONTEXT_PREFIX + c for c in columns]
                training = pd.concat([joined.set_axis(context_columns, axis=1), training], axis=1)
            if training.shape[1] == 0:
                raise DataError(
                    f"Table {name!r} has only key columns and no children; argn_relational "
                    "has nothing to learn for it. Drop it with source.tables."
                )
            params = {**self.config.argn, "conditional_columns": context_columns}
            self._models[name] = create_generator("argn", params).fit(
                training, seed=derive_seed(seed, index)
            )
            key = real.primary_keys.get(name)
            self._plan[name] = {
                "columns": [str(c) for c in frame.columns],
                "context": None if context is None else vars(context),
                "context_columns": context_columns,
                "key": None if key is None else KeySpec.learn(key, frame[key]).model_dump(),
                # A sampled parent may carry a value its child's model never saw (argn decodes a
                # parent's rare categories to a shared token): such values are redrawn from these.
                "context_values": {
                    c: sorted(training[c].dropna().astype(str).unique())
                    for c in context_columns
                    if training[c].dtype == object
                },
                "empty_share": {
                    r.child_key: float(frame[r.child_key].isna().mean()) for r in real.parents(name)
                },
            }

    def _sample_tables(self, scale: float, *, seed: int) -> RelationalData:
        from generators.keys import KeySpec

        sampled: dict[str, pd.DataFrame] = {}
        rng = np.random.default_rng(derive_seed(seed, 3))
        for index, (name, plan) in enumerate(self._plan.items()):
            model, stream = self._models[name], derive_seed(seed, 4, index)
            context = None if plan["context"] is None else Relationship(**plan["context"])
            if context is None:
                frame = model.sample(max(1, round(scale * self.training_rows[name])), seed=stream)
            else:
                parent = sampled[context.parent]
                counts = parent[_count_column(context)].round().clip(lower=0).astype(int)
                rows = np.repeat(np.arange(len(parent)), counts.to_numpy())
                given = parent.iloc[rows][
                    [c[len(CONTEXT_PREFIX) :] for c in plan["context_columns"]]
                ]
                given = given.set_axis(plan["context_columns"], axis=1).reset_index(drop=True)
                for column, known in plan["context_values"].items():
                    unseen = given[column].notna() & ~given[column].isin(known)
                    given.loc[unseen, column] = rng.choice(known, int(unseen.sum()))
                frame = (
                    model.sample(
                        len(rows), seed=stream, conditions=given if given.shape[1] else None
                    )
                    if len(rows)
                    else pd.DataFrame(columns=model.columns)
                )
                frame[context.child_key] = parent[context.parent_key].to_numpy()[rows]
            for rel in self.relationships:
                if rel.child == name and rel != context:
                    frame[rel.child_key] = _assign_parents(
                        sampled[rel.parent],
                        rel,
                        len(frame),
                        plan["empty_share"][rel.child_key],
                        rng,
                    )
            if plan["key"] is not None:
                spec = KeySpec.model_validate(plan["key"])
                frame[spec.column] = spec.values(len(frame), 0).to_numpy()
            sampled[name] = frame.reset_index(drop=True)
        tables = {name: sampled[name][plan["columns"]] for name, plan in self._plan.items()}
        return RelationalData(tables, self.primary_keys, self.relationships)

    def _save(self, directory: Path) -> None:
        for name, model in self._models.items():
            model.save(directory / TABLES_DIR / name)
        (directory / PLAN_FILE).write_text(json.dumps(self._plan, indent=1))

    def _load(self, directory: Path) -> None:
        from generators.registry import load_saved_generator

        self._plan = json.loads((directory / PLAN_FILE).read_text())
        self._models = {
            name: load_saved_generator(directory / TABLES_DIR / name) for name in self._plan
        }


def _assign_parents(
    parent: pd.DataFrame, rel: Relationship, n: int, empty_share: float, rng: np.random.Generator
) -> np.ndarray:
    """Parent keys for `n` children: each sampled parent as often as its sampled child count
    (topped up in proportion to it), shuffled; `empty_share` of them left empty."""
    keys = parent[rel.parent_key].to_numpy()
    weights = parent[_count_column(rel)].round().clip(lower=0).astype(int).to_numpy()
    pool = np.repeat(keys, weights)
    if len(pool) < n:
        p = weights / weights.sum() if weights.sum() else None
        pool = np.concatenate([pool, rng.choice(keys, n - len(pool), p=p)])
    assigned = rng.permutation(pool)[:n].astype(object)
    assigned[rng.random(n) < empty_share] = None
    return assigned
