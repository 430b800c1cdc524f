"""`argn`: an autoregressive transformer over a table's columns.

Each row becomes a sequence of tokens (`generators.tabular_encoding`: categories with rare-value
protection, numerics as quantile bin + within-bin position, datetimes as parts, missing values as
tokens) and a small causal transformer (`generators.argn_network`) learns each token from the
tokens before it. Sampling draws the tokens position by position (softmax with `temperature`).

Training keeps the best validation epoch whose samples pass a privacy signal (their DCR share
against equally many training and validation rows is at most `max_dcr_share`; see
`generators.tabular_privacy`), except on small tables: a validation split of a few
dozen rows stops on noise (wine's 14 rows kept the epoch-2 model) and takes rows the model needs,
so below `min_validation_rows` held-out rows argn trains on every row for a fixed number of passes,
with dropout, token dropout (numeric tokens entering by their level alone) and fewer quantile bins
(sqrt(rows)), which keep 100-500 rows from being memorised before the columns' trends are learnt.

Rare values are protected: categories seen fewer than `rare_category_min_count` times never
appear in samples (they share a token that decodes to frequent values), and numbers are clipped to
the `rare_category_min_count`-th smallest / largest value (`protect_extremes`), so no sample
carries one person's rare category, minimum or maximum.

Conditional generation fixes leading tokens: `conditional_columns` are put first in the column
order at fit time, and `sample(conditions=...)` may fix any leading part of them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from generators.neural_tabular import MODEL_STREAM, NeuralTabularConfig, NeuralTabularGenerator
from generators.registry import register
from generators.seeding import derive_seed
from generators.tabular_encoding import EncodingSettings

if TYPE_CHECKING:
    from generators.tabular_training import Batch, PrivacyCheck

BATCHES_PER_PASS = 20  # automatic batch size: ~rows / 20
MIN_BINS, MAX_BINS = 8, 32  # automatic numeric bins: sqrt(rows) within these bounds
# Small tables' default regularisation (measured on wine, 142 rows, and breast_cancer, 455).
SMALL_TABLE_DROPOUT, SMALL_TABLE_TOKEN_DROPOUT = 0.3, 0.5
CPU_CACHE_BYTES, CUDA_CACHE_BYTES = 256 * 2**20, 4 * 2**30  # attention cache while sampling
PRIVACY_SAMPLE_STREAM = 20  # derive_seed key of the samples probed for the privacy signal


class ARGNConfig(NeuralTabularConfig):
    """`argn` settings: the transformer's size, its regularisation, the training plan of small
    tables and the sampling temperature."""

    numeric_bins: int | None = Field(  # type: ignore[assignment]  # None: chosen from the rows
        None,
        ge=2,
        description="Quantile bins per numeric column; None: sqrt(rows) between 8 and 32 (a bin "
        "per few rows lets a small table's model memorise rows instead of learning trends).",
    )
    passes_without_validation: int = Field(
        20,
        ge=1,
        description="Passes over the rows when training without a validation split (40 fitted "
        "breast_cancer's 455 rows so closely that its DCR share was 0.60; 20 gives 0.50).",
    )
    width: int = Field(64, ge=4, description="Embedding / hidden width of the transformer.")
    depth: int = Field(2, ge=1, description="Number of transformer blocks.")
    heads: int = Field(4, ge=1, description="Attention heads; must divide width.")
    dropout: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Dropout in training; None: 0.3 for a small table (trained without "
        "validation), 0 otherwise (early stopping limits overfitting, and dropout slows it).",
    )
    token_dropout: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of numeric tokens (bins, within-bin steps) whose own embedding is "
        "dropped in training, leaving their level, so that the model treats neighbouring bins "
        "alike instead of memorising rows by their exact tokens; None: 0.5 for a small table, "
        "0 otherwise.",
    )
    patience: int = Field(
        5,
        ge=1,
        description="Stop after this many epochs without a better validation loss (among "
        "epochs that pass max_dcr_share); later epochs rarely win and each costs a full pass.",
    )
    max_dcr_share: float | None = Field(
        0.52,
        gt=0,
        le=1,
        description="Privacy-aware model selection: an epoch is kept only if the DCR share of its "
        "samples (the share closer to a training row than to a validation row, equally many of "
        "each; 0.5 = no closer than unseen rows) is at most this. None: validation loss alone.",
    )
    protect_extremes: bool = Field(
        True,
        description="Clip numbers to the rare_category_min_count-th smallest / largest value, so "
        "no sample reveals one person's minimum or maximum.",
    )
    temperature: float = Field(
        1.0, gt=0, description="Softmax temperature when sampling; < 1 sharpens, > 1 flattens."
    )
    sample_batch_size: int | None = Field(
        None,
        ge=1,
        description="Rows generated per forward pass; None: as many as keep the attention "
        "cache within 256 MiB (4 GiB on CUDA).",
    )

    def regularisation(self, rows: int) -> tuple[float, float]:
        """Dropout and token dropout for a table of `rows` rows."""
        small = self.without_validation(rows)
        dropout = SMALL_TABLE_DROPOUT if small else 0.0
        token_dropout = SMALL_TABLE_TOKEN_DROPOUT if small else 0.0
        return (
            dropout if self.dropout is None else self.dropout,
            token_dropout if self.token_dropout is None else self.token_dropout,
        )

    def bins_for(self, rows: int) -> int:
        if self.numeric_bins is not None:
            return self.numeric_bins
        return int(np.clip(round(math.sqrt(rows)), MIN_BINS, MAX_BINS))

    def encoding_settings(self, rows: int) -> EncodingSettings:
        settings = super().encoding_settings(rows)
        return EncodingSettings(**{**settings.__dict__, "protect_extremes": self.protect_extremes})

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ARGNConfig:
        if self.width % self.heads:
            raise ValueError(
                f"width={self.width} must be a multiple of heads={self.heads}; e.g. "
                f"width={self.width - self.width % self.heads or self.heads}."
            )
        return self


@register("argn")
class ARGNGenerator(NeuralTabularGenerator):
    """Autoregressive transformer over column tokens; conditions fix leading columns."""

    config_class = ARGNConfig
    config: ARGNConfig
    conditions_must_cover = "prefix"

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._fit_rows: int | None = None  # sets the regularisation of the model being fitted

    def _fit(self, real: pd.DataFrame, *, seed: int) -> None:
        self._fit_rows = len(real)
        super()._fit(real, seed=seed)

    def _build_model(self) -> Any:
        from generators.argn_network import ARGNTransformer

        # A loaded model only samples: its dropout is off whatever it is set to.
        dropout, token_dropout = self.config.regularisation(self._fit_rows or 0)
        return ARGNTransformer(
            cardinalities=self.encoding.token_cardinalities(),
            levels=self.encoding.token_levels(),
            width=self.config.width,
            depth=self.config.depth,
            heads=self.config.heads,
            dropout=dropout,
            token_dropout=token_dropout,
        )

    def _train(self, real: pd.DataFrame, *, seed: int, device: str) -> dict[str, Any]:
        import torch

        from generators.tabular_training import train_with_early_stopping

        model = self._require_model()
        return train_with_early_stopping(
            name=self.name,
            model=model,
            loss_fn=lambda net, batch, _noise: {"loss": net.loss(batch["tokens"])},
            data={"tokens": torch.from_numpy(self.encoding.encode_tokens(real))},
            config=self.config,
            seed=seed,
            device=device,
            batches_per_pass=BATCHES_PER_PASS,
            stochastic_loss=False,
            privacy=self._privacy_check(seed, device),
        )

    def _privacy_check(self, seed: int, device: str) -> PrivacyCheck | None:
        """The DCR share of as many samples as there are probe rows (same draws every epoch, so
        epochs are compared on equal terms), against `max_dcr_share`."""
        import torch

        from generators.images.training import autocast
        from generators.tabular_privacy import dcr_share
        from generators.tabular_training import PrivacyCheck

        if self.config.max_dcr_share is None:
            return None
        coordinates = self.encoding.token_coordinates

        def share(net: Any, train: Batch, validation: Batch) -> float:
            rows = train["tokens"].shape[0]
            generator = torch.Generator(device).manual_seed(
                derive_seed(seed, PRIVACY_SAMPLE_STREAM)
            )
            empty = torch.zeros((rows, 0), dtype=torch.long, device=device)
            with autocast(device, self.config.mixed_precision):
                sampled = net.sample(
                    empty, temperature=self.config.temperature, generator=generator
                )
            return dcr_share(
                coordinates(sampled.cpu().numpy()),
                coordinates(train["tokens"].cpu().numpy()),
                coordinates(validation["tokens"].cpu().numpy()),
            )

        return PrivacyCheck(share=share, limit=self.config.max_dcr_share)

    def _generate(
        self, model: Any, n: int, *, seed: int, conditions: pd.DataFrame | None, device: str
    ) -> pd.DataFrame:
        import numpy as np
        import torch

        from generators.images.training import autocast

        if conditions is None:
            prefix = np.zeros((n, 0), dtype=np.int64)
        else:
            head, _ = self.encoding.split(conditions.shape[1])
            prefix = head.encode_tokens(conditions)  # (N, P)
        generator = torch.Generator(device).manual_seed(derive_seed(seed, MODEL_STREAM))
        rows = self.config.sample_batch_size or self._rows_per_pass(device)
        chunks = []
        for start in range(0, n, rows):
            part = torch.from_numpy(prefix[start : start + rows])
            with autocast(device, self.config.mixed_precision):
                tokens = model.sample(
                    part.to(device), temperature=self.config.temperature, generator=generator
                )
            chunks.append(tokens.cpu())
        tokens = torch.cat(chunks).numpy()  # (N, T)
        return self.encoding.decode_tokens(tokens, self.decode_rng(seed))

    def _rows_per_pass(self, device: str) -> int:
        """Rows whose key/value cache (fp32, every position and block) fits the device budget."""
        positions = len(self.encoding.token_cardinalities())
        per_row = positions * self.config.width * 2 * self.config.depth * 4
        budget = CUDA_CACHE_BYTES if device.startswith("cuda") else CPU_CACHE_BYTES
        return max(budget // per_row, 1)
