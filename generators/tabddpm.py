"""`tabddpm`: diffusion for mixed-type tables, as in TabDDPM (Kotelnikov et al. 2023).

Numeric columns are mapped through their quantile function to normal scores and diffused with
Gaussian noise; categorical columns (and the missing flags of numeric ones) are diffused with
multinomial noise; one MLP denoiser with a timestep embedding learns both
(`generators.tabddpm_diffusion`). Decoding goes back through the shared column encoding
(`generators.tabular_encoding`), so exact zeros, integers, rounding and missing values survive.

Conditioning: the denoiser is class-conditional on the tokens of `conditional_columns` (their
embeddings add to the timestep embedding), as TabDDPM conditions on the target class. Without
conditions, sample() draws the conditioning tokens from their joint frequencies in the training
data; with conditions it must fix every conditional column, and returns exactly n rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from generators.neural_tabular import MODEL_STREAM, NeuralTabularConfig, NeuralTabularGenerator
from generators.registry import register
from generators.seeding import derive_seed

BATCHES_PER_PASS = 4  # automatic batch size: ~rows / 4 (diffusion losses are noisy)

DEQUANTISE_STREAM = 20  # derive_seed key of the tie-spreading draws at fit time


class TabDDPMConfig(NeuralTabularConfig):
    """`tabddpm` settings: diffusion steps and the denoiser's size."""

    # Diffusion losses are noisy: a higher rate and more patience than the shared defaults.
    learning_rate: float = Field(3e-3, gt=0)
    patience: int = Field(
        30, ge=1, description="Stop after this many epochs without a better validation loss."
    )
    steps: int = Field(100, ge=2, description="Diffusion timesteps (training and sampling).")
    hidden: tuple[int, ...] = Field(
        (256, 256, 256), min_length=1, description="Widths of the denoiser's hidden layers."
    )
    dropout: float = Field(0.0, ge=0, lt=1)
    sample_batch_size: int = Field(8192, ge=1, description="Rows denoised per forward pass.")


@register("tabddpm")
class TabDDPMGenerator(NeuralTabularGenerator):
    """Gaussian + multinomial diffusion with an MLP denoiser; class-conditional on
    `conditional_columns`."""

    config_class = TabDDPMConfig
    config: TabDDPMConfig
    conditions_must_cover = "all"

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        # Joint frequencies of the conditioning tokens, drawn from when sampling without conditions.
        self._condition_rows: list[list[int]] = []
        self._condition_counts: list[int] = []

    def _build_model(self) -> Any:
        from generators.tabddpm_diffusion import MixedDiffusion

        head, body = self.encoding.split(self.condition_count)
        return MixedDiffusion(
            continuous=body.continuous_count(),
            cardinalities=body.mixed_cardinalities(),
            condition_cardinalities=head.token_cardinalities(),
            hidden=self.config.hidden,
            dropout=self.config.dropout,
            steps=self.config.steps,
        )

    def _train(self, real: pd.DataFrame, *, seed: int, device: str) -> dict[str, Any]:
        import torch

        from generators.tabddpm_diffusion import SCORE_LIMIT
        from generators.tabular_training import train_with_early_stopping

        head, body = self.encoding.split(self.condition_count)
        rng = np.random.default_rng(derive_seed(seed, DEQUANTISE_STREAM))
        positions, codes = body.encode_mixed(real[body.names], rng)  # (N, C), (N, K)
        condition = head.encode_tokens(real[head.names]) if head.columns else _no_tokens(len(real))
        if head.columns:
            rows, counts = np.unique(condition, axis=0, return_counts=True)
            self._condition_rows, self._condition_counts = rows.tolist(), counts.tolist()
        model = self._require_model()
        scores = torch.special.ndtri(torch.from_numpy(positions)).clamp(-SCORE_LIMIT, SCORE_LIMIT)
        return train_with_early_stopping(
            name=self.name,
            model=model,
            loss_fn=lambda net, batch, noise: net.loss(
                batch["scores"], batch["codes"], batch["condition"], noise
            ),
            data={
                "scores": scores.float(),
                "codes": torch.from_numpy(codes),
                "condition": torch.from_numpy(condition),
            },
            config=self.config,
            seed=seed,
            device=device,
            batches_per_pass=BATCHES_PER_PASS,
        )

    def _generate(
        self, model: Any, n: int, *, seed: int, conditions: pd.DataFrame | None, device: str
    ) -> pd.DataFrame:
        import torch

        from generators.images.training import autocast

        head, body = self.encoding.split(self.condition_count)
        rng = self.decode_rng(seed)
        if conditions is not None:
            condition = head.encode_tokens(conditions)  # (N, Q)
        elif head.columns:
            counts = np.asarray(self._condition_counts, dtype=float)
            drawn = rng.choice(len(counts), size=n, p=counts / counts.sum())
            condition = np.asarray(self._condition_rows, dtype=np.int64)[drawn]
        else:
            condition = _no_tokens(n)
        generator = torch.Generator(device).manual_seed(derive_seed(seed, MODEL_STREAM))
        scores, codes = [], []
        for start in range(0, n, self.config.sample_batch_size):
            part = torch.from_numpy(condition[start : start + self.config.sample_batch_size])
            with autocast(device, self.config.mixed_precision):
                part_scores, part_codes = model.sample(part.to(device), generator)
            scores.append(part_scores.float().cpu())
            codes.append(part_codes.cpu())
        positions = torch.special.ndtr(torch.cat(scores)).double().numpy()  # (N, C)
        frame = body.decode_mixed(positions, torch.cat(codes).numpy(), rng)
        if not head.columns:
            return frame
        return pd.concat([head.decode_tokens(condition, rng), frame], axis=1)

    def _extra_state(self) -> dict[str, Any]:
        return {"condition_rows": self._condition_rows, "condition_counts": self._condition_counts}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self._condition_rows = state["condition_rows"]
        self._condition_counts = state["condition_counts"]


def _no_tokens(rows: int) -> np.ndarray:
    return np.zeros((rows, 0), dtype=np.int64)
