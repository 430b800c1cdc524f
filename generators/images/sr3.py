"""SR3-style super-resolution (Saharia et al. 2022): a diffusers `UNet2DModel` denoises the
high-resolution image given its low-resolution input, the two concatenated on the channel axis.

What diffuses is the residual over the bicubic upscale (high-res minus bicubic, in [-1, 1]), so
an untrained model already returns bicubic and training only learns the missing detail. Sampling
is DDIM (deterministic, eta 0) from the training `DDPMScheduler`'s config; the output is
back-projected (`core.resample.back_project`) so its area downsample equals the input.

Plain functions for now: the `upscale` job kind that will wrap them as a registered generator is
not written yet (docs/upscaling.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.resample import back_project, bicubic, check_factor, downsample
from generators.seeding import derive_seed, seeded

if TYPE_CHECKING:
    import torch

TRAIN_TIMESTEPS = 1000
NOISE_STREAM, ORDER_STREAM = 1, 3


@dataclass(frozen=True)
class SR3Config:
    factor: int = 2
    block_out_channels: tuple[int, ...] = (32, 64)
    layers_per_block: int = 1
    steps: int = 1000  # optimizer steps, one batch each
    batch_size: int = 32
    learning_rate: float = 1e-3
    sampling_steps: int = 20  # DDIM steps

    def __post_init__(self) -> None:
        check_factor(self.factor)


def _conditioned(low: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """The bicubic upscale in [0, 1] and it scaled to [-1, 1] as the UNet's condition."""
    base = bicubic(low, factor)  # (N, C, H, W)
    return base, base * 2 - 1


def train_sr3(high: np.ndarray, config: SR3Config, *, seed: int = 0) -> torch.nn.Module:
    """A UNet trained on (area downsample, original) pairs of `high` `(N, C, H, W)` in [0, 1]."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DModel

    channels, side = high.shape[1], high.shape[-1]
    base, condition = _conditioned(downsample(high, config.factor), config.factor)
    residual = torch.from_numpy((high - base).clip(-1, 1))  # (N, C, H, W)
    cond = torch.from_numpy(condition)
    levels = len(config.block_out_channels)
    with seeded(seed):
        unet = UNet2DModel(
            sample_size=side,
            in_channels=2 * channels,
            out_channels=channels,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels,
            add_attention=False,
            norm_num_groups=8,
        )
    scheduler = DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS)
    optimizer = torch.optim.AdamW(unet.parameters(), config.learning_rate)
    rng = torch.Generator().manual_seed(derive_seed(seed, NOISE_STREAM))
    order = np.random.default_rng(derive_seed(seed, ORDER_STREAM))
    unet.train()
    for _ in range(config.steps):
        rows = torch.from_numpy(order.choice(len(high), size=config.batch_size))
        x0, c = residual[rows], cond[rows]
        noise = torch.randn(x0.shape, generator=rng)
        t = torch.randint(0, TRAIN_TIMESTEPS, (len(x0),), generator=rng)
        noisy = scheduler.add_noise(x0, noise, t)
        eps = unet(torch.cat([c, noisy], dim=1), t).sample
        loss = F.mse_loss(eps, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
    unet.register_to_config(sr3_factor=config.factor)  # saved with it by save_pretrained
    return unet.eval()


def upscale_sr3(
    unet: torch.nn.Module, low: np.ndarray, config: SR3Config, *, seed: int = 0
) -> np.ndarray:
    """`low` `(N, C, h, w)` in [0, 1] upscaled by `config.factor`, back-projected."""
    import torch
    from diffusers import DDIMScheduler

    base, condition = _conditioned(low, config.factor)
    scheduler = DDIMScheduler(num_train_timesteps=TRAIN_TIMESTEPS)
    scheduler.set_timesteps(config.sampling_steps)
    rng = torch.Generator().manual_seed(derive_seed(seed, NOISE_STREAM))
    c = torch.from_numpy(condition)
    x = torch.randn(c.shape, generator=rng)
    with torch.inference_mode():
        for t in scheduler.timesteps:
            eps = unet(torch.cat([c, x], dim=1), t).sample
            x = scheduler.step(eps, t, x, eta=0.0).prev_sample  # (N, C, H, W)
    out = np.clip(base + x.numpy(), 0.0, 1.0).astype(np.float32)
    return back_project(out, low, config.factor)
