"""Sequence generators backed by SDV 2.x's PARSynthesizer (`par`): a Gaussian copula draws each
entity's context, then a probabilistic autoregressive network draws its rows one step at a time
until it emits the end of the sequence, so lengths vary like the real ones.

`sample(n)` draws `n` sequences (their rows together); each gets a fresh sequence key numbered
from `first_row`, so shards sampled apart never share an entity. The fitted synthesizer is
saved as a signed pickle exactly like the single-table SDV families (`generators.sdv_tabular`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import Field

from core.errors import ConfigError
from core.metadata import TABLE_NAME, detect_metadata
from core.sequences import SequenceSpec, check_sequences, ordered
from generators.base import Conditions, Generator, GeneratorConfig
from generators.device import resolve_device
from generators.registry import register
from generators.sdv_tabular import SDVGenerator
from generators.seeding import derive_seed, seeded

KEY_FILE = "sequence.json"


class SequenceConfig(GeneratorConfig):
    """What makes the training table sequential; a job fills these from its `source:`."""

    sequence_key: str | None = Field(None, description="the column naming each row's entity")
    sequence_index: str | None = Field(
        None, description="the numeric or datetime column ordering its rows"
    )
    context_columns: tuple[str, ...] = Field((), description="columns with one value per entity")

    @property
    def spec(self) -> SequenceSpec:
        if self.sequence_key is None or self.sequence_index is None:
            raise ConfigError(
                "A sequence generator needs sequence_key and sequence_index (a job takes them "
                "from source.sequence_key / sequence_index, or a built-in's own)."
            )
        return SequenceSpec(self.sequence_key, self.sequence_index, self.context_columns)


class PARConfig(SequenceConfig):
    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"verbose"})

    epochs: int = Field(128, ge=1)
    sample_size: int = Field(1, ge=1, description="draws per step when scoring the likelihood")
    segment_size: int | None = Field(None, ge=1, description="cut long sequences into segments")
    enforce_min_max_values: bool = True
    enforce_rounding: bool = True
    device: str = Field("auto", description="'auto' (cuda if present), 'cpu' or 'cuda'.")
    verbose: bool = Field(False, description="Show PAR's progress bar while fitting.")


class SequenceGenerator(Generator):
    """Shared input checks and key renumbering of the sequence families."""

    modality = "sequence"
    config: SequenceConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._numeric_key = False  # sampled keys take the training keys' kind (ints or text)

    def _check_real(self, real: pd.DataFrame) -> None:
        super()._check_real(real)
        check_sequences(real, self.config.spec, "The training table")

    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        conditions: Conditions | None = None,
        first_row: int = 0,
    ) -> pd.DataFrame:
        """Draw `n` sequences; their keys are numbered `first_row`, `first_row + 1`, ..."""
        if conditions is not None:
            raise ConfigError(
                f"{self.name!r} draws whole sequences and takes no conditions; remove "
                "`conditions:` from the job."
            )
        frame = super().sample(n, seed=seed, first_row=first_row)
        key = self.config.sequence_key
        drawn = pd.Index(pd.unique(frame[key]))
        numbers = first_row + drawn.get_indexer(frame[key])
        frame[key] = numbers if self._numeric_key else numbers.astype(str).astype(object)
        return ordered(frame, self.config.spec)


@register("par")
class PARGenerator(SequenceGenerator, SDVGenerator):
    """SDV PAR: context by a Gaussian copula, rows by an autoregressive RNN, variable length."""

    config_class = PARConfig
    config: PARConfig

    def _synthesizer_class(self) -> Any:
        from sdv.sequential import PARSynthesizer

        return PARSynthesizer

    def _synthesizer_kwargs(self) -> dict[str, Any]:
        config = self.config
        return {
            "epochs": config.epochs,
            "sample_size": config.sample_size,
            "segment_size": config.segment_size,
            "context_columns": list(config.context_columns),
            "enforce_min_max_values": config.enforce_min_max_values,
            "enforce_rounding": config.enforce_rounding,
            "cuda": resolve_device(config.device).startswith("cuda"),
            "verbose": config.verbose,
        }

    def _fit(self, real: pd.DataFrame, *, seed: int) -> None:
        spec = self.config.spec
        self._numeric_key = pd.api.types.is_numeric_dtype(real[spec.key])
        metadata = detect_metadata(real.drop(columns=[spec.key]))
        metadata.add_column(spec.key, table_name=TABLE_NAME, sdtype="id")
        metadata.set_sequence_key(spec.key, table_name=TABLE_NAME)
        # A few distinct order values look categorical to SDV's detection; the order is numeric.
        timed = pd.api.types.is_datetime64_any_dtype(real[spec.index])
        metadata.update_column(
            spec.index, table_name=TABLE_NAME, sdtype="datetime" if timed else "numerical"
        )
        metadata.set_sequence_index(spec.index, table_name=TABLE_NAME)
        real = real.astype({c: object for c in real.columns if real[c].dtype == "category"})
        with seeded(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            synthesizer = self._synthesizer_class()(metadata, **self._synthesizer_kwargs())
            synthesizer.fit({TABLE_NAME: ordered(real, spec)})
        self._synthesizer = synthesizer

    def _sample(self, n: int, *, seed: int, conditions: pd.DataFrame | None) -> pd.DataFrame:
        context = self._synthesizer._context_synthesizer
        context.reset_sampling()
        context._set_random_state(derive_seed(seed, 0))
        # PAR's network draws from torch's global generator: seed it for the call alone.
        with seeded(derive_seed(seed, 1)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._synthesizer.sample_sequences(num_sequences=n)
        frame = out[TABLE_NAME] if isinstance(out, dict) else out
        return frame[self.learned_columns]

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        (directory / KEY_FILE).write_text(json.dumps({"numeric_key": self._numeric_key}))

    def _load(self, directory: Path) -> None:
        super()._load(directory)
        self._numeric_key = bool(json.loads((directory / KEY_FILE).read_text())["numeric_key"])
