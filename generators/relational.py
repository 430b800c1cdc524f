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

from pydantic import Field

from core.errors import ConfigError, DataError, NotFittedError
from core.relational import RelationalData, Relationship, depth, sdv_metadata
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
