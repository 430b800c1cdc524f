"""What the latent diffusion families (`ldm`, `t2i`) share: the autoencoder stage, the UNet built
in its latent space and trained on a conditioning module's tokens, and the sampling choices.

Training runs in two stages through the shared loop (`training.train`, so seeded batches,
learning-rate schedule and resumable checkpoints work as for the other families):
1. the autoencoder, `vae_steps` steps of MSE reconstruction (in [-1, 1]) plus `kl_weight` x the
   KL divergence per latent element; each level after the first halves the image side. Its
   latents are then scaled to unit variance (`scaling_factor`, measured on the training images).
2. the UNet, `steps` steps of epsilon (or v) prediction under a 1000-step `DDPMScheduler`, on
   latents sampled from the frozen encoder. A family's conditioning module (a class embedding,
   a text encoder over the prompts) maps the batch's condition indices to the tokens the UNet's
   cross-attention reads (`encoder_hidden_states`). With probability `cond_dropout` a condition
   is replaced by the module's null one (`null_index`), so one network learns both the
   conditional and the unconditional prediction that classifier-free guidance mixes at sample
   time (`guidance_scale`). `conditional: false` trains on the null condition only. EMAs of the
   UNet and of a trained conditioning module sample.

Sampling (run options, no retraining): `sampler` ddpm / ddim / dpm_solver with `sampling_steps`,
`guidance_scale`, `dtype` (fp32 / bf16 / fp16 autocast on CUDA; CPU always samples in fp32).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from core.errors import DataError
from core.images import ImageData
from generators.images.base import ImageGeneratorBase, ImageGeneratorConfig
from generators.images.ddpm import DEFAULT_SAMPLING_STEPS, SAMPLER_CLASSES, TRAIN_TIMESTEPS, Sampler
from generators.seeding import derive_seed, seeded

if TYPE_CHECKING:
    import torch

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
VAE_STREAM, UNET_STREAM = 4, 5  # derive_seed keys: each stage initialises from its own seed
# Components loaded from their safetensors + JSON (never a pickled .bin, never code in the
# folder); low_cpu_mem_usage=False: the default wants `accelerate`.
LOAD_OPTIONS = {"low_cpu_mem_usage": False, "use_safetensors": True, "local_files_only": True}


class LatentDiffusionConfig(ImageGeneratorConfig):
    vae_block_out_channels: tuple[int, ...] = Field(
        (32, 64),
        min_length=1,
        description="Autoencoder channels per level; each after the first "
        "halves the side (two levels: 32x32 images -> 16x16 latents).",
    )
    latent_channels: int = Field(4, ge=1)
    vae_steps: int = Field(1000, ge=1, description="Optimizer steps of the autoencoder stage.")
    vae_learning_rate: float = Field(1e-3, gt=0)
    kl_weight: float = Field(1e-3, ge=0, description="KL term per latent element.")
    block_out_channels: tuple[int, ...] = Field(
        (32, 64), min_length=1, description="UNet channels per level of the latent grid."
    )
    layers_per_block: int = Field(1, ge=1)
    cross_attention_dim: int = Field(
        32, ge=1, description="Width of the conditioning tokens (class embedding, text encoder)."
    )
    attention_head_dim: int = Field(8, ge=1)
    norm_num_groups: int = Field(8, ge=1, description="GroupNorm groups of both networks.")
    cond_dropout: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Share of training conditions (labels, prompts) replaced by the null one "
        "(classifier-free guidance).",
    )
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "scaled_linear"
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"
    learning_rate: float = Field(1e-3, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1, description="EMA of the UNet used to sample.")
    sampler: Sampler = Field("ddim", description="Scheduler used by sample(); no retraining.")
    sampling_steps: int | None = Field(
        None, ge=1, description="Denoising steps; default ddpm 1000, ddim 50, dpm_solver 20."
    )
    dtype: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="Sampling precision on CUDA (autocast); CPU always samples in fp32."
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = ImageGeneratorConfig.RUN_FIELDS | {
        "sampler",
        "sampling_steps",
        "dtype",
    }

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> LatentDiffusionConfig:
        for field in ("vae_block_out_channels", "block_out_channels"):
            channels = getattr(self, field)
            bad = [c for c in channels if c < 1 or c % self.norm_num_groups]
            if bad:
                raise ValueError(
                    f"norm_num_groups={self.norm_num_groups} must divide every entry of "
                    f"{field}={channels}; {bad} are not positive multiples of it."
                )
        return self


class LatentDiffusion(ImageGeneratorBase):
    """The two training stages and the sampling choices of a latent diffusion family.

    A family builds its conditioning module (with `null_index`, mapping condition indices `(B,)`
    to tokens `(B, T, D)`), calls `_train_vae` then `_train_unet`, and samples through its
    diffusers pipeline with `sampler()` under `precision()`.
    """

    config: Any  # a LatentDiffusionConfig with the family's guidance_scale
    # Extra options of the training DDPMScheduler (and so of every sampler built from it).
    # Never clip the predicted clean sample to [-1, 1] (diffusers' pixel-space default): latents
    # are scaled to unit variance, so about a third of their values lie outside that range.
    SCHEDULER_OPTIONS: ClassVar[dict[str, Any]] = {"clip_sample": False}

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._vae: Any = None
        self._unet: Any = None  # EMA weights
        self._scheduler: Any = None  # the training DDPMScheduler; samplers are built from it

    # ---- sampling choice ------------------------------------------------------------------------
    @property
    def num_inference_steps(self) -> int:
        return self.config.sampling_steps or DEFAULT_SAMPLING_STEPS[self.config.sampler]

    @property
    def sampling_dtype(self) -> str:
        """The precision sampling runs in: `dtype` on CUDA, fp32 on CPU."""
        return self.config.dtype if self.device.startswith("cuda") else "fp32"

    def sampling_info(self) -> dict[str, Any]:
        return {
            "sampler": self.config.sampler,
            "sampling_steps": self.num_inference_steps,
            "guidance_scale": self.config.guidance_scale,
            "dtype": self.sampling_dtype,
        }

    def with_sampler(self, sampler: Sampler, steps: int | None = None) -> LatentDiffusion:
        """A copy sharing the trained weights that samples with `sampler` in `steps` steps."""
        return self.with_run_options(sampler=sampler, sampling_steps=steps)

    def sampler(self) -> Any:
        """A fresh scheduler of the configured kind (multistep solvers keep state per run)."""
        import diffusers

        kind = getattr(diffusers, SAMPLER_CLASSES[self.config.sampler])
        return kind.from_config(self._scheduler.config)

    def precision(self) -> AbstractContextManager[object]:
        import torch

        dtype = self.sampling_dtype
        if dtype == "fp32":
            return nullcontext()
        return torch.autocast("cuda", dtype=getattr(torch, DTYPES[dtype]))

    def _check_size(self, size: int) -> None:
        super()._check_size(size)
        halvings = len(self.config.vae_block_out_channels) - 1
        if size >> halvings < 4:
            raise DataError(
                f"{size}x{size} images give {size >> halvings}x{size >> halvings} latents with "
                f"vae_block_out_channels={self.config.vae_block_out_channels}; the UNet needs at "
                "least 4x4. Use fewer autoencoder levels or larger images."
            )

    # ---- networks -------------------------------------------------------------------------------
    def _build_vae(self) -> torch.nn.Module:
        from diffusers import AutoencoderKL

        config, levels = self.config, len(self.config.vae_block_out_channels)
        return AutoencoderKL(
            in_channels=self.spec.channels,
            out_channels=self.spec.channels,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=config.vae_block_out_channels,
            layers_per_block=config.layers_per_block,
            latent_channels=config.latent_channels,
            norm_num_groups=config.norm_num_groups,
            sample_size=self.spec.size,
        )

    def _build_unet(self, cross_attention_dim: int) -> torch.nn.Module:
        from diffusers import UNet2DConditionModel

        config, levels = self.config, len(self.config.block_out_channels)
        # Cross-attention (the condition's tokens) at every level but the finest, and in the
        # middle.
        down = ("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",)
        up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1)
        latent_size = self.spec.size >> (len(config.vae_block_out_channels) - 1)
        return UNet2DConditionModel(
            sample_size=latent_size,
            in_channels=config.latent_channels,
            out_channels=config.latent_channels,
            down_block_types=down,
            up_block_types=up,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            cross_attention_dim=cross_attention_dim,
            attention_head_dim=config.attention_head_dim,
            norm_num_groups=config.norm_num_groups,
        )

    # ---- training -------------------------------------------------------------------------------
    def _stage_config(self, steps: int, stage: str) -> Any:
        """The config one stage's loop runs under: its step count, its checkpoint subfolder."""
        update: dict[str, Any] = {"steps": steps}
        if self.config.checkpoint_dir is not None:
            update["checkpoint_dir"] = str(Path(self.config.checkpoint_dir) / stage)
        return self.config.model_copy(update=update)

    def _train_vae(self, data: ImageData, seed: int) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        from generators.images.training import TrainState, autocast, train

        config, device = self.config, self.device
        with seeded(derive_seed(seed, VAE_STREAM)):
            vae = self._build_vae().to(device)
        optimizer = torch.optim.AdamW(vae.parameters(), config.vae_learning_rate)

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            clean = images * 2 - 1
            with autocast(device, config.mixed_precision):
                posterior = vae.encode(clean).latent_dist
                noise = torch.randn(posterior.mean.shape, generator=rng, device=clean.device)
                decoded = vae.decode(posterior.mean + posterior.std * noise).sample
            reconstruction = F.mse_loss(decoded.float(), clean)
            kl = posterior.kl().mean() / posterior.mean[0].numel()
            loss = reconstruction + config.kl_weight * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            optimizer.step()
            return {"reconstruction": reconstruction.detach(), "kl": kl.detach()}

        info = train(
            name=f"{self.name}-vae",
            config=self._stage_config(config.vae_steps, "vae"),
            seed=seed,
            data=data,
            device=device,
            state=TrainState(modules={"vae": vae}, optimizers={"vae": optimizer}),
            step=step,
        )
        vae.requires_grad_(False).eval()
        # Unit-variance latents, as the scheduler's noise levels assume (Rombach et al. 2022).
        with torch.no_grad():
            images = torch.from_numpy(data.images).to(device) * 2 - 1
            means = torch.cat([vae.encode(b).latent_dist.mean for b in images.split(256)])
        vae.register_to_config(scaling_factor=float(1 / means.float().std()))
        self._vae = vae
        return info

    def _train_unet(
        self,
        data: ImageData,
        seed: int,
        *,
        conditioner_name: str,
        build_conditioner: Callable[[], torch.nn.Module],
        cross_attention_dim: int,
        train_conditioner: bool = True,
    ) -> tuple[dict[str, Any], torch.nn.Module]:
        """Train the UNet on `data`, whose labels index the conditioner's conditions; returns the
        loop's info and the conditioner to sample with (its EMA when trained)."""
        import torch
        import torch.nn.functional as F
        from diffusers import DDPMScheduler

        from generators.images.training import EMA, TrainState, autocast, train

        config, device, vae = self.config, self.device, self._vae
        with seeded(derive_seed(seed, UNET_STREAM)):
            unet = self._build_unet(cross_attention_dim).to(device)
            conditioner = build_conditioner().to(device)
        scheduler = DDPMScheduler(
            num_train_timesteps=TRAIN_TIMESTEPS,
            beta_schedule=config.beta_schedule,
            prediction_type=config.prediction_type,
            **self.SCHEDULER_OPTIONS,
        )
        modules = {"unet": unet}
        if train_conditioner:
            modules[conditioner_name] = conditioner
        else:
            conditioner.requires_grad_(False).eval()
        parameters = [p for module in modules.values() for p in module.parameters()]
        optimizer = torch.optim.AdamW(parameters, config.learning_rate)
        ema = {name: EMA(module, config.ema_decay) for name, module in modules.items()}
        null, scale = conditioner.null_index, vae.config.scaling_factor

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            with torch.no_grad():
                posterior = vae.encode(images * 2 - 1).latent_dist
                noise = torch.randn(posterior.mean.shape, generator=rng, device=images.device)
                latents = (posterior.mean + posterior.std * noise) * scale
            t_device = latents.device
            noise = torch.randn(latents.shape, generator=rng, device=latents.device)
            t = torch.randint(0, TRAIN_TIMESTEPS, (len(latents),), generator=rng, device=t_device)
            dropped = torch.rand(len(labels), generator=rng, device=t_device) < config.cond_dropout
            if not config.conditional:
                dropped[:] = True  # an unconditional model learns the null condition only
            labels = torch.where(dropped, torch.full_like(labels, null), labels)
            noisy = scheduler.add_noise(latents, noise, t)
            if config.prediction_type == "v_prediction":
                target = scheduler.get_velocity(latents, noise, t)
            else:
                target = noise
            with autocast(device, config.mixed_precision):
                out = unet(noisy, t, encoder_hidden_states=conditioner(labels)).sample
            loss = F.mse_loss(out.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            return {"loss": loss.detach()}

        info = train(
            name=self.name,
            config=self._stage_config(config.steps, "unet"),
            seed=seed,
            data=data,
            device=device,
            state=TrainState(modules=modules, optimizers={"unet": optimizer}, ema=ema),
            step=step,
        )
        self._unet, self._scheduler = ema["unet"].module, scheduler
        trained = ema[conditioner_name].module if train_conditioner else conditioner
        return {**info, "scaling_factor": vae.config.scaling_factor}, trained

    # ---- loading --------------------------------------------------------------------------------
    def _load_latent_stages(self, folder: Path) -> None:
        """The autoencoder, UNet and training schedule of a saved pipeline folder."""
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

        with component_errors(folder):
            vae = AutoencoderKL.from_pretrained(folder / "vae", **LOAD_OPTIONS)
            unet = UNet2DConditionModel.from_pretrained(folder / "unet", **LOAD_OPTIONS)
            # The saved scheduler is the sampler; the training schedule is rebuilt from its
            # config.
            scheduler = DDPMScheduler.from_pretrained(folder / "scheduler", local_files_only=True)
        self._vae = vae.to(self.device).eval()
        self._unet = unet.to(self.device).eval()
        self._scheduler = scheduler


@contextmanager
def component_errors(folder: Path) -> Iterator[None]:
    """A missing or unreadable component of a saved folder as a DataError naming the fix."""
    try:
        yield
    except OSError as exc:
        raise DataError(
            f"Cannot load the latent diffusion model saved in {folder}: {exc} Only the "
            "safetensors weights and JSON configs Synthpipe writes are read (a .bin is a "
            "pickle); re-fit to rewrite them."
        ) from None
