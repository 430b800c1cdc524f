"""`tabddpm`: diffusion for mixed-type tables, as in TabDDPM (Kotelnikov et al. 2023).

Numeric columns are mapped through their quantile function to normal scores and diffused with
Gaussian noise; categorical columns (and the missing flags of numeric ones) are diffused with
multinomial noise; one MLP denoiser with a timestep embedding learns both
(`generators.tabddpm_diffusion`). Decoding goes back through the shared column encoding
(`generators.tabular_encoding`), so exact zeros, integers, rounding and missing values survive,
and a discrete numeric column (`discrete_share`) is sampled on its observed values only.

Sampling runs DDIM (Song et al. 2021) over `sampling_steps` = 20 of the 100 training timesteps
by default (`sampler: ddpm` walks all of them); the codes follow the multinomial posterior
across each jump. Small tables train without a validation split for a fixed number of passes
(`generators.tabular_training.training_plan`), as `argn` does.

Conditioning: the denoiser is class-conditional on the tokens of `conditional_columns` (their
embeddings add to the timestep embedding), as TabDDPM conditions on the target class. Without
conditions, sample() draws the conditioning tokens from their joint frequencies in the training
data; with conditions it must fix every conditional column, and returns exactly n rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from generators.neural_tabular import MODEL_STREAM, NeuralTabularConfig, NeuralTabularGenerator
from generators.registry import register
from generators.seeding import derive_seed
from generators.tabular_encoding import EncodingSettings

BATCHES_PER_PASS = 4  # automatic batch size: ~rows / 4 (diffusion losses are noisy)
DISCRETE_SHARE = 0.05  # default `discrete_share`
DDIM_STEPS = 20  # default `sampling_steps` of the ddim sampler
DDIM_ETA = 1.0  # default `sampling_eta`

DEQUANTISE_STREAM = 20  # derive_seed key of the tie-spreading draws at fit time


class TabDDPMConfig(NeuralTabularConfig):
    """`tabddpm` settings: diffusion steps, the denoiser's size, discrete columns, the sampler."""

    # Diffusion losses are noisy: a higher rate and more patience than the shared defaults.
    learning_rate: float = Field(3e-3, gt=0)
    patience: int = Field(
        30, ge=1, description="Stop after this many epochs without a better validation loss."
    )
    # A small table (validation split under min_validation_rows) trains for this many passes:
    # about the ~130-270 passes at which early stopping had kept its best epoch on wine and
    # breast_cancer before, without the split's noise deciding when.
    passes_without_validation: int = Field(
        200, ge=1, description="Passes over the rows when training without a validation split."
    )
    steps: int = Field(100, ge=2, description="Diffusion timesteps of training.")
    hidden: tuple[int, ...] = Field(
        (256, 256, 256), min_length=1, description="Widths of the denoiser's hidden layers."
    )
    dropout: float = Field(0.0, ge=0, lt=1)
    discrete_share: float | None = Field(
        DISCRETE_SHARE,
        gt=0,
        le=1,
        description="A numeric column with at most this many distinct values per row (0.05: each "
        "value seen 20 times on average) is discrete: sampled values are its observed values. "
        "None: every numeric column is continuous.",
    )
    sampler: Literal["ddpm", "ddim"] = Field(
        "ddim",
        description="'ddim': DDIM jumps over `sampling_steps` timesteps (fast; `sampling_eta` "
        "sets their noise); 'ddpm': ancestral sampling over every timestep. No retraining "
        "needed to switch.",
    )
    sampling_eta: float = Field(
        DDIM_ETA,
        ge=0,
        le=1,
        description="DDIM's noise scale (eta) for the ddim sampler: 1 draws each jump with the "
        "posterior's variance; 0 is deterministic, which lost quality on the tables measured "
        "(wine 0.823 vs 0.896).",
    )
    sampling_steps: int | None = Field(
        None, ge=1, description=f"Denoising steps; default ddim {DDIM_STEPS}, ddpm `steps`."
    )
    sample_batch_size: int = Field(8192, ge=1, description="Rows denoised per forward pass.")

    # Sampling choices: a fitted model samples with any of them (and its cache key ignores them).
    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"sampler", "sampling_steps", "sampling_eta", "sample_batch_size", "verbose"}
    )

    def encoding_settings(self, rows: int) -> EncodingSettings:
        return replace(super().encoding_settings(rows), discrete_share=self.discrete_share)


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

    @property
    def sampling_steps(self) -> int:
        """Denoising steps per sample: `sampling_steps`, or the sampler's default."""
        if self.config.sampling_steps is not None:
            return min(self.config.sampling_steps, self.config.steps)
        return DDIM_STEPS if self.config.sampler == "ddim" else self.config.steps

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
        from generators.tabddpm_diffusion import sampling_timesteps

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
        timesteps = sampling_timesteps(self.config.steps, self.sampling_steps)
        eta = self.config.sampling_eta if self.config.sampler == "ddim" else 1.0
        scores, codes = [], []
        for start in range(0, n, self.config.sample_batch_size):
            part = torch.from_numpy(condition[start : start + self.config.sample_batch_size])
            with autocast(device, self.config.mixed_precision):
                part_scores, part_codes = model.sample(part.to(device), generator, timesteps, eta)
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
