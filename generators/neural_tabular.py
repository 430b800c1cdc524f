"""What the native tabular generators (`argn`, `tabddpm`) share: the training config, the column
encoding (conditioning columns first), conditions, and saving weights as safetensors beside a JSON
state (encoding, training summary, family extras); no pickle.

A family implements `_build_model`, `_train` and `_generate`; torch is imported inside methods so
that importing `generators` stays light.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from core.errors import ConfigError, DataError
from generators.base import Generator, TabularConfig
from generators.device import DeviceName, cpu_threads_field, resolve_device, torch_threads
from generators.seeding import derive_seed, seeded
from generators.tabular_encoding import EncodingSettings, TableEncoding

if TYPE_CHECKING:
    from torch import nn

WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "model.json"
# Bumped when the saved state's layout changes, so an old model fails with a re-fit hint instead
# of a KeyError deep in decoding. 2: rare-value protection keeps no per-category counts.
STATE_FORMAT = 2
# derive_seed keys: decoding draws (rare pool, within-bin positions) never share the model's stream.
DECODE_STREAM, MODEL_STREAM = 0, 1


class NeuralTabularConfig(TabularConfig):
    """Training, encoding and device settings common to the native tabular families."""

    conditional_columns: tuple[str, ...] = Field(
        (),
        description="Columns sample(conditions=...) may fix; they come first in the model's "
        "column order.",
    )
    max_epochs: int = Field(
        200,
        ge=1,
        description="Upper bound on epochs (passes over the training rows; on a table of more "
        "than 64 batches, 64 batches of a fresh random order).",
    )
    patience: int = Field(
        10, ge=1, description="Stop after this many epochs without a better validation loss."
    )
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="Rows held out (seeded) for early stopping; 0 disables it."
    )
    min_validation_rows: int = Field(
        100,
        ge=1,
        description="A validation split smaller than this is not held out: it is too noisy to "
        "stop on and its rows are missed in training. The model then trains on every row for "
        "`passes_without_validation` passes (at most max_epochs epochs).",
    )
    passes_without_validation: int = Field(
        40, ge=1, description="Passes over the rows when training without a validation split."
    )
    batch_size: int | None = Field(
        None,
        ge=2,
        description="Rows per step; None: a power of two near rows / 20 (argn) or rows / 4 "
        "(tabddpm), at least 32, at most 512 on CPU and 4096 on CUDA.",
    )
    learning_rate: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    ema_decay: float = Field(
        0.99,
        ge=0,
        lt=1,
        description="Decay of the moving average of the weights that is validated and kept "
        "(0: the raw weights).",
    )
    numeric_bins: int = Field(32, ge=2, description="Quantile bins per numeric column.")
    bin_subdivisions: int = Field(
        16, ge=2, description="Positions inside a numeric bin (tokens of the within-bin value)."
    )
    rare_category_min_count: int = Field(
        5,
        ge=1,
        description="Categories seen fewer times share one protected token (1 keeps them all).",
    )
    device: DeviceName = Field("auto", description="'auto' (cuda if present), 'cpu' or 'cuda'.")
    cpu_threads: int | None = cpu_threads_field()
    mixed_precision: Literal["no", "bf16"] = Field(
        "bf16", description="'bf16': bfloat16 autocast on CUDA; ignored on CPU."
    )
    verbose: bool = Field(True, description="Show a progress bar with the losses while fitting.")

    @field_validator("conditional_columns")
    @classmethod
    def _distinct(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(columns)) != len(columns):
            raise ValueError(f"conditional_columns has repeated names: {list(columns)}")
        return columns

    def without_validation(self, rows: int) -> bool:
        """Whether a table of `rows` rows trains without a validation split (a small table)."""
        return round(rows * self.validation_fraction) < self.min_validation_rows

    def bins_for(self, rows: int) -> int:
        """Quantile bins per numeric column for a table of `rows` rows."""
        return self.numeric_bins

    def encoding_settings(self, rows: int) -> EncodingSettings:
        return EncodingSettings(
            bins=self.bins_for(rows),
            subdivisions=self.bin_subdivisions,
            rare_min_count=self.rare_category_min_count,
        )


class NeuralTabularGenerator(Generator):
    """Fit / sample / save / load around one torch model over an encoded table."""

    modality = "table"
    config: NeuralTabularConfig
    # Which conditions a family can honour: a prefix of `conditional_columns`, or all of them.
    conditions_must_cover: ClassVar[Literal["prefix", "all"]]

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._encoding: TableEncoding | None = None
        self._model: nn.Module | None = None
        self._training: dict[str, Any] = {}

    # ---- protocol ------------------------------------------------------------------------------
    def _fit(self, real: pd.DataFrame, *, seed: int) -> None:
        conditional = list(self.config.conditional_columns)
        unknown = [c for c in conditional if c not in real.columns]
        if unknown:
            raise ConfigError(
                f"conditional_columns names columns not in the training data: {unknown}; "
                f"available columns: {[str(c) for c in real.columns]}."
            )
        order = conditional + [str(c) for c in real.columns if c not in conditional]
        self._encoding = TableEncoding.fit(real, order, self.config.encoding_settings(len(real)))
        device = resolve_device(self.config.device)
        with torch_threads(self.config.cpu_threads), seeded(derive_seed(seed, MODEL_STREAM)):
            self._model = self._build_model().to(device)
            self._training = self._train(real[order], seed=seed, device=device)
        self._model.to("cpu")

    @property
    def thread_safe(self) -> bool:
        # Sampling draws from its own torch/numpy generators; only `cpu_threads` changes a
        # process-wide setting (torch's thread count), which concurrent shards would race on.
        return self.config.cpu_threads is None

    def _sample(self, n: int, *, seed: int, conditions: pd.DataFrame | None) -> pd.DataFrame:
        fixed = self._conditions_in_order(conditions)
        device = resolve_device(self.config.device)
        model = self._require_model().to(device)
        with torch_threads(self.config.cpu_threads):
            frame = self._generate(model, n, seed=seed, conditions=fixed, device=device)
        model.to("cpu")
        if fixed is not None:
            for column in fixed.columns:
                frame[column] = fixed[column].to_numpy()
        return frame[self.learned_columns]

    def _save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        model = self._require_model()
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()}, directory / WEIGHTS_FILE
        )
        state = {
            "format": STATE_FORMAT,
            "encoding": self._require_encoding().to_state(),
            "training": self._training,
            "extra": self._extra_state(),
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=1))

    def _load(self, directory: Path) -> None:
        from safetensors.torch import load_file

        missing = [f for f in (WEIGHTS_FILE, STATE_FILE) if not (directory / f).is_file()]
        if missing:
            raise DataError(f"{directory} lacks {missing}: it was not saved by {self.name!r}.")
        state = json.loads((directory / STATE_FILE).read_text())
        if state.get("format") != STATE_FORMAT:
            raise DataError(
                f"{directory / STATE_FILE} was saved by an older Synthpipe (state format "
                f"{state.get('format', 1)}; this one reads {STATE_FORMAT}). Re-fit the "
                f"{self.name!r} model to save it again."
            )
        self._encoding = TableEncoding.from_state(state["encoding"])
        self._training = state["training"]
        self._set_extra_state(state["extra"])
        self._model = self._build_model()
        self._model.load_state_dict(load_file(directory / WEIGHTS_FILE))
        self._model.eval()

    @property
    def training_summary(self) -> dict[str, Any]:
        """What the last fit did: epochs run, best epoch, losses, device, batch size, rows."""
        return dict(self._training)

    # ---- helpers for families ------------------------------------------------------------------
    @property
    def encoding(self) -> TableEncoding:
        return self._require_encoding()

    @property
    def condition_count(self) -> int:
        return len(self.config.conditional_columns)

    def decode_rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng(derive_seed(seed, DECODE_STREAM))

    def _conditions_in_order(self, conditions: pd.DataFrame | None) -> pd.DataFrame | None:
        """The conditions as the leading conditional columns, or a ConfigError naming the fix."""
        if conditions is None:
            return None
        conditional = list(self.config.conditional_columns)
        given = [str(c) for c in conditions.columns]
        if self.conditions_must_cover == "prefix":
            wanted = conditional[: len(given)]
            rule = "a leading part of conditional_columns"
        else:
            wanted = conditional
            rule = "all of conditional_columns"
        if sorted(given) != sorted(wanted):
            fix = [*given, *(c for c in conditional if c not in given)]
            raise ConfigError(
                f"{self.name!r} was fitted with conditional_columns={conditional}; conditions on "
                f"{given} must name {rule} ({wanted}). Refit with "
                f"conditional_columns={fix} to condition on these columns."
            )
        return conditions[wanted]

    def _require_model(self) -> nn.Module:
        if self._model is None:  # the base class checks `fitted` first; this is for type checkers
            raise DataError(f"{self.name!r} has no model; fit or load it first.")
        return self._model

    def _require_encoding(self) -> TableEncoding:
        if self._encoding is None:
            raise DataError(f"{self.name!r} has no encoding; fit or load it first.")
        return self._encoding

    def _extra_state(self) -> dict[str, Any]:
        """JSON-able state a family needs besides weights and encoding (saved in model.json)."""
        return {}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `_extra_state` returned."""

    # ---- what a family implements --------------------------------------------------------------
    @abstractmethod
    def _build_model(self) -> nn.Module:
        """The untrained torch model for `self.encoding` and `self.config` (also used by load)."""

    @abstractmethod
    def _train(self, real: pd.DataFrame, *, seed: int, device: str) -> dict[str, Any]:
        """Train `self._model` on `real` (columns in model order); returns the training summary."""

    @abstractmethod
    def _generate(
        self,
        model: nn.Module,
        n: int,
        *,
        seed: int,
        conditions: pd.DataFrame | None,
        device: str,
    ) -> pd.DataFrame:
        """`n` decoded rows (model order); `conditions` holds the leading conditional columns."""
