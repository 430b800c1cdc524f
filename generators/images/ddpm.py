"""`ddpm`: a denoising diffusion model on a diffusers `UNet2DModel` sized for small images.

Training: epsilon (or v) prediction under a `DDPMScheduler` with 1000 timesteps, AdamW, gradient
norm clipped to 1, optional Min-SNR-gamma loss weights, the shared learning-rate schedule
(`lr_schedule`, `warmup_steps`) and an EMA of the weights that sampling uses. With
`conditional: true` the UNet's class embedding (`num_class_embeds` / `class_labels`) carries the
label. On digits, a cosine schedule with Min-SNR-5 reaches the Fréchet floor in ~25% fewer steps
than a constant rate (README, "Image quality of the example digits jobs").

Sampling picks its scheduler independently of training, built from the training scheduler's
config: `sampler` is `ddpm` (ancestral, 1000 steps by default), `ddim` (50) or `dpm_solver`
(DPM-Solver++ multistep, 20); `sampling_steps` overrides the count. Both are config fields, so a
job sets them, and `generator.with_sampler("dpm_solver", 20)` gives a copy of a trained model
that samples differently, without retraining. `sampling_info()` reports what was used, for lineage.

Saved as `unet/` (EMA weights, safetensors + config.json) and `scheduler/` (scheduler_config.json)
with diffusers' `save_pretrained`, beside `generator.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from core.errors import DataError, NotFittedError
from core.images import ImageData
from generators.images.base import ImageGenerator, ImageGeneratorConfig
from generators.registry import register
from generators.seeding import seeded

if TYPE_CHECKING:
    import torch

Sampler = Literal["ddpm", "ddim", "dpm_solver"]
SAMPLER_CLASSES: dict[str, str] = {
    "ddpm": "DDPMScheduler",
    "ddim": "DDIMScheduler",
    "dpm_solver": "DPMSolverMultistepScheduler",
}
DEFAULT_SAMPLING_STEPS: dict[str, int] = {"ddpm": 1000, "ddim": 50, "dpm_solver": 20}
TRAIN_TIMESTEPS = 1000
UNET_DIR, SCHEDULER_DIR = "unet", "scheduler"


class DDPMConfig(ImageGeneratorConfig):
    block_out_channels: tuple[int, ...] = Field(
        (32, 64), min_length=1, description="UNet channels per resolution level (each halves H, W)."
    )
    layers_per_block: int = Field(1, ge=1)
    attention: bool = Field(
        False, description="Self-attention at the lowest resolution (slower; helps larger images)."
    )
    norm_num_groups: int = Field(
        8, ge=1, description="GroupNorm groups; divides every channel count."
    )
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "linear"
    prediction_type: Literal["epsilon", "v_prediction"] = Field(
        "epsilon", description="What the UNet predicts: the noise, or the velocity v."
    )
    snr_gamma: float | None = Field(
        None,
        gt=0,
        description="Min-SNR-gamma loss weighting (Hang et al. 2023; 5 is usual); None: uniform.",
    )
    learning_rate: float = Field(1e-3, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1, description="EMA of the weights used to sample.")
    sampler: Sampler = Field(
        "ddim", description="Scheduler used by sample(); no retraining needed."
    )
    sampling_steps: int | None = Field(
        None, ge=1, description="Denoising steps; default ddpm 1000, ddim 50, dpm_solver 20."
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = ImageGeneratorConfig.RUN_FIELDS | {
        "sampler",
        "sampling_steps",
    }

    @field_validator("block_out_channels")
    @classmethod
    def _positive_channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if min(value) < 1:
            raise ValueError(f"every channel count must be positive; got {value}")
        return value

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> DDPMConfig:
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(
                f"norm_num_groups={self.norm_num_groups} must divide every entry of "
                f"block_out_channels={self.block_out_channels}; {bad} are not multiples of it."
            )
        return self


@register("ddpm")
class DDPMGenerator(ImageGenerator):
    """Diffusion on a diffusers UNet2DModel; sampler and step count are chosen at sample time."""

    config_class = DDPMConfig
    config: DDPMConfig
    starts_from_images = True

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._unet: Any = None  # the EMA weights
        # The training DDPMScheduler; every sampler is built from its config.
        self._scheduler: Any = None

    # ---- sampling choice ------------------------------------------------------------------------
    @property
    def num_inference_steps(self) -> int:
        """Denoising steps per sample: `sampling_steps`, or the sampler's default."""
        return self.config.sampling_steps or DEFAULT_SAMPLING_STEPS[self.config.sampler]

    def with_sampler(self, sampler: Sampler, steps: int | None = None) -> DDPMGenerator:
        """A copy sampling with `sampler` for `steps` (None: its default), sharing the trained
        weights; the copy's config (and so its lineage) names the new sampler."""
        return self.with_run_options(sampler=sampler, sampling_steps=steps)

    def sampling_info(self) -> dict[str, Any]:
        return {
            "sampler": self.config.sampler,
            "scheduler": SAMPLER_CLASSES[self.config.sampler],
            "num_inference_steps": self.num_inference_steps,
        }

    @property
    def unet(self) -> torch.nn.Module:
        """The fitted UNet (EMA weights) that samples; e.g. to count its FLOPs."""
        if self._unet is None:
            raise NotFittedError(f"{self.name!r} has no UNet; fit or load it first.")
        return self._unet

    # ---- ImageGenerator hooks --------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        # Each level but the last halves the side, so it must divide by 2 ** (levels - 1).
        halvings = len(self.config.block_out_channels) - 1
        if size % 2**halvings:
            raise DataError(
                f"ddpm with block_out_channels={self.config.block_out_channels} halves the image "
                f"{halvings} time(s), so its side must be a multiple of {2**halvings}; got "
                f"{size}x{size}. Resize the source or use fewer levels."
            )

    def _build_unet(self) -> torch.nn.Module:
        from diffusers import UNet2DModel

        levels, config = len(self.config.block_out_channels), self.config
        down, up = ["DownBlock2D"] * levels, ["UpBlock2D"] * levels
        if config.attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        return UNet2DModel(
            sample_size=self.spec.size,
            in_channels=self.spec.channels,
            out_channels=self.spec.channels,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            add_attention=config.attention,
            norm_num_groups=config.norm_num_groups,
            num_class_embeds=len(self.spec.label_names) if config.conditional else None,
        )

    def _train(self, data: ImageData, *, seed: int) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F
        from diffusers import DDPMScheduler

        from generators.images.training import EMA, TrainState, autocast, train

        config, device = self.config, self.device
        with seeded(seed):
            unet = self._build_unet().to(device)
        scheduler = DDPMScheduler(
            num_train_timesteps=TRAIN_TIMESTEPS,
            beta_schedule=config.beta_schedule,
            prediction_type=config.prediction_type,
        )
        weights = loss_weights(scheduler, config.prediction_type, config.snr_gamma).to(device)
        optimizer = torch.optim.AdamW(unet.parameters(), config.learning_rate)
        ema = EMA(unet, config.ema_decay)

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            clean = images * 2 - 1  # (B, C, H, W) in [-1, 1]
            noise = torch.randn(clean.shape, generator=rng, device=clean.device)
            t = torch.randint(0, TRAIN_TIMESTEPS, (len(clean),), generator=rng, device=clean.device)
            noisy = scheduler.add_noise(clean, noise, t)
            if config.prediction_type == "v_prediction":
                target = scheduler.get_velocity(clean, noise, t)
            else:
                target = noise
            with autocast(device, config.mixed_precision):
                out = unet(noisy, t, class_labels=labels if config.conditional else None).sample
            per_image = F.mse_loss(out.float(), target, reduction="none").mean(dim=(1, 2, 3))
            loss = (weights[t] * per_image).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            return {"loss": loss.detach()}

        state = TrainState(
            modules={"unet": unet}, optimizers={"unet": optimizer}, ema={"unet": ema}
        )
        info = train(
            name=self.name,
            config=config,
            seed=seed,
            data=data,
            device=device,
            state=state,
            step=step,
        )
        self._unet, self._scheduler = ema.module, scheduler
        return info

    def _sampling_scheduler(self) -> Any:
        import diffusers

        return getattr(diffusers, SAMPLER_CLASSES[self.config.sampler]).from_config(
            self._scheduler.config
        )

    def _generate(self, n: int, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        import torch

        spec = self.spec
        scheduler = self._sampling_scheduler()  # fresh per batch: multistep solvers keep state
        scheduler.set_timesteps(self.num_inference_steps, device=self.device)
        shape = (n, spec.channels, spec.size, spec.size)
        x = torch.randn(shape, generator=rng).to(self.device) * scheduler.init_noise_sigma
        return self._denoise(x, scheduler, scheduler.timesteps, labels, rng)

    def _vary(
        self,
        images: torch.Tensor,
        masks: torch.Tensor | None,
        labels: torch.Tensor | None,
        strength: float,
        rng: torch.Generator,
    ) -> torch.Tensor:
        import torch

        scheduler = self._sampling_scheduler()
        scheduler.set_timesteps(self.num_inference_steps, device=self.device)
        clean = images * 2 - 1  # (B, C, H, W) in [-1, 1]
        # The same first draw as _generate, so strength 1 without masks is exactly a sample.
        noise = torch.randn(clean.shape, generator=rng).to(self.device)
        timesteps = strength_timesteps(scheduler, strength)
        if len(timesteps) == 0:  # a strength too small for one step of this schedule
            return images
        if strength == 1:
            x = noise * scheduler.init_noise_sigma
        else:
            x = scheduler.add_noise(clean, noise, timesteps[:1])
        keep = None if masks is None else (clean, masks.to(self.device))
        return self._denoise(x, scheduler, timesteps, labels, rng, keep)

    def _denoise(
        self,
        x: torch.Tensor,
        scheduler: Any,
        timesteps: torch.Tensor,
        labels: torch.Tensor | None,
        rng: torch.Generator,
        keep: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Denoise `x` `(B, C, H, W)` over `timesteps`; with `keep` = (clean, mask), after every
        step the pixels outside the mask are the clean image noised to the next timestep
        (RePaint, Lugmayr et al. 2022, without its resampling jumps), so only the mask is new."""
        import torch

        from generators.images.training import autocast

        unet = self._unet
        for i, t in enumerate(timesteps):
            with autocast(self.device, self.config.mixed_precision):
                eps = unet(scheduler.scale_model_input(x, t), t, class_labels=labels).sample
            x = scheduler.step(eps.float(), t, x, generator=rng).prev_sample  # (B, C, H, W)
            if keep is not None:
                clean, mask = keep
                if i + 1 < len(timesteps):
                    fresh = torch.randn(clean.shape, generator=rng).to(self.device)
                    known = scheduler.add_noise(clean, fresh, timesteps[i + 1 : i + 2])
                else:
                    known = clean
                x = mask * x + (1 - mask) * known
        return (x + 1) / 2

    def _save_weights(self, directory: Path) -> None:
        self._unet.save_pretrained(directory / UNET_DIR)
        self._scheduler.save_pretrained(directory / SCHEDULER_DIR)

    def _load_weights(self, directory: Path) -> None:
        from diffusers import DDPMScheduler, UNet2DModel

        # low_cpu_mem_usage=False: the default wants `accelerate` and warns without it.
        # use_safetensors=True: never fall back to a pickled .bin planted beside (or instead of)
        # the weights we wrote; local_files_only: a missing folder is an error, not a Hub name.
        try:
            unet = UNet2DModel.from_pretrained(
                directory / UNET_DIR,
                low_cpu_mem_usage=False,
                use_safetensors=True,
                local_files_only=True,
            )
            scheduler = DDPMScheduler.from_pretrained(
                directory / SCHEDULER_DIR, local_files_only=True
            )
        except OSError as exc:
            raise DataError(
                f"Cannot load the DDPM saved in {directory}: {exc} Only the safetensors weights "
                "and JSON configs Synthpipe writes are read (a .bin is a pickle); re-fit to "
                "rewrite them."
            ) from None
        self._unet = unet.to(self.device).eval()
        self._scheduler = scheduler


def loss_weights(scheduler: Any, prediction_type: str, snr_gamma: float | None) -> torch.Tensor:
    """Per-timestep loss weights `(TRAIN_TIMESTEPS,)`: ones, or Min-SNR-gamma, which caps the
    weight of the easy low-noise steps so training spends its steps where samples are decided.
    With SNR = alpha_bar / (1 - alpha_bar) the weight is min(SNR, gamma) / SNR for epsilon and
    min(SNR, gamma) / (SNR + 1) for v (the same weighting of the implied x0 error)."""
    import torch

    alpha_bar = scheduler.alphas_cumprod.double()
    if snr_gamma is None:
        return torch.ones(len(alpha_bar))
    snr = alpha_bar / (1 - alpha_bar)
    capped = snr.clamp(max=snr_gamma)
    weights = capped / (snr + 1) if prediction_type == "v_prediction" else capped / snr
    return weights.float()


def strength_timesteps(scheduler: Any, strength: float) -> torch.Tensor:
    """The last `strength` of the sampling schedule (as diffusers' img2img pipelines take it):
    strength 1 is every timestep, 0.5 the noisier half skipped, so denoising starts midway."""
    steps = len(scheduler.timesteps) // scheduler.order
    start = steps - min(int(steps * strength), steps)
    if hasattr(scheduler, "set_begin_index"):  # multistep solvers count steps from here
        scheduler.set_begin_index(start * scheduler.order)
    return scheduler.timesteps[start * scheduler.order :]
