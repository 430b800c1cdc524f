"""`pretrained`: text-to-image from a user's own diffusers pipeline folder, optionally LoRA-tuned.

`path` is a local folder or an fsspec URL (`file://`, `memory://`, `s3://`, ...; a remote folder
is copied into `cache_dir` first) holding what `pipe.save_pretrained(folder)` writes: Stable
Diffusion, SDXL or any stock diffusers pipeline that draws from prompts alone. It is checked from
its JSON before a weight is read (`pipeline_folder`) and loaded with
`DiffusionPipeline.from_pretrained(folder, local_files_only=True, use_safetensors=True)`: never
remote code, never a pickled `.bin`.

`fit(real)` records what the real images are (labels, size, channels) and the base folder's
sha256 (over every file; lineage also gets the sha256 of model_index.json). Without `lora` it
trains nothing. With `lora: {rank, steps, learning_rate}` it fine-tunes LoRA adapters (peft) on
the UNet's attention projections: denoising the real images, resized to the pipeline's native
size, conditioned on each image's prompt (a job's `prompts:`), or on `prompt_template` filled
with its label when the images carry none (frozen VAE and text encoder; the image base's
batch_size, lr_schedule, warmup and checkpoints apply). The adapters are saved in diffusers'
LoRA format, `lora/pytorch_lora_weights.safetensors`, which plain diffusers loads too
(`pipe.load_lora_weights(dir / "lora")`).

Output size: the pipeline's native size (the UNet's sample size times the VAE's scale), in its
channels; `resize_to_source: true` resizes each image (bilinear, antialiased) to the real images'
side and converts RGB to grayscale (ITU-R 601 luma) or grayscale to RGB when their channels
differ. The saved image spec says which.

Saved: our config, the image spec and `base.json` (the path, both sha256s, the native size) plus
the adapters; the base pipeline stays a reference to `path`, and loading refuses a base folder
whose files changed since the fit (`IntegrityError`).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import ConfigError, DataError, IntegrityError
from core.images import ImageData
from generators.images.clip_text import tokenize
from generators.images.latent import DTYPES
from generators.images.pipeline_folder import PipelineFolder
from generators.images.prompted import (
    PromptedImageConfig,
    PromptedImageGenerator,
    index_by_prompt,
)
from generators.registry import register
from generators.seeding import derive_seed, seeded

if TYPE_CHECKING:
    import torch

BASE_FILE = "base.json"
LORA_DIR, LORA_WEIGHTS = "lora", "pytorch_lora_weights.safetensors"
CACHE_ENV_VAR, DEFAULT_CACHE = "SYNTHPIPE_PIPELINE_CACHE", "~/.cache/synthpipe/pipelines"
# The UNet attention projections LoRA adapts (diffusers' own text-to-image LoRA recipe).
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
LORA_STREAM = 6  # derive_seed key of the adapters' initial weights
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B in grayscale
SUPPORTED_PIPELINES = ("text2image",)


class LoraConfig(BaseModel):
    """LoRA fine-tuning of the UNet on the real images."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(4, ge=1, description="Rank of each adapter (alpha = rank: scale 1).")
    steps: int = Field(200, ge=1, description="Optimizer steps, one batch of real images each.")
    learning_rate: float = Field(1e-4, gt=0)


class PretrainedConfig(PromptedImageConfig):
    path: str = Field(
        min_length=1, description="Pipeline folder, or an fsspec URL of one (copied locally)."
    )
    pipeline: Literal["text2image", "img2img", "inpaint", "upscale"] = Field(
        "text2image", description="What the pipeline does; only text2image is supported yet."
    )
    dtype: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="Weights' precision on CUDA; CPU always runs in fp32."
    )
    sample_batch_size: int = Field(8, ge=1, description="Images per pipeline call.")
    attention_slicing: bool = Field(
        False, description="Compute attention in slices: less GPU memory, a little slower."
    )
    num_inference_steps: int = Field(30, ge=1, description="Denoising steps per image.")
    negative_prompt: str | None = Field(
        None, description="What every image is guided away from (needs guidance_scale > 1)."
    )
    resize_to_source: bool = Field(
        False, description="Resize outputs to the real images' size and channels."
    )
    prompt_template: str = Field(
        "a photo of a {label}",
        description="LoRA training prompt per label, for images without their own prompts "
        "(in a job, each image learns the prompt its `prompts:` give it).",
    )
    lora: LoraConfig | None = Field(None, description="Fine-tune LoRA adapters on the real images.")
    cache_dir: str | None = Field(
        None,
        description=f"Where remote folders are copied (${CACHE_ENV_VAR}, default {DEFAULT_CACHE}).",
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = PromptedImageConfig.RUN_FIELDS | {
        "dtype",
        "attention_slicing",
        "num_inference_steps",
        "negative_prompt",
        "cache_dir",
    }

    @field_validator("prompt_template")
    @classmethod
    def _template_takes_a_label(cls, template: str) -> str:
        try:
            template.format(label="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"prompt_template must be a format string whose only field is {{label}}, e.g. "
                f"'a photo of a {{label}}'; {template!r} fails ({exc!r})."
            ) from None
        return template

    @model_validator(mode="after")
    def _pipeline_is_supported(self) -> PretrainedConfig:
        if self.pipeline not in SUPPORTED_PIPELINES:
            raise ValueError(
                f"pipeline={self.pipeline!r} is not supported yet: it needs an input image per "
                "row, which jobs do not give yet. Use pipeline: text2image with a "
                "text-to-image folder."
            )
        return self

    def cache_root(self) -> Path:
        return Path(self.cache_dir or os.environ.get(CACHE_ENV_VAR, DEFAULT_CACHE)).expanduser()


@register("pretrained")
class PretrainedGenerator(PromptedImageGenerator):
    """Text-to-image from a local (or fsspec URL) diffusers pipeline folder such as Stable
    Diffusion; fit is a no-op or a LoRA fine-tune on the real images."""

    config_class = PretrainedConfig
    config: PretrainedConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._folder: PipelineFolder | None = None
        self._base: dict[str, Any] = {}  # path, sha256s, native size, pipeline class
        self._adapter: dict[str, torch.Tensor] | None = None  # LoRA weights, fp32 on the CPU
        self._pipe: Any = None  # loaded on first use

    @property
    def sampling_dtype(self) -> str:
        """The precision the pipeline runs in: `dtype` on CUDA, fp32 on CPU."""
        return self.config.dtype if self.device.startswith("cuda") else "fp32"

    def sampling_info(self) -> dict[str, Any]:
        return {
            "base": dict(self._base),
            "num_inference_steps": self.config.num_inference_steps,
            "guidance_scale": self.config.guidance_scale,
            "negative_prompt": self.config.negative_prompt,
            "dtype": self.sampling_dtype,
            "lora_rank": self.config.lora.rank if self.config.lora else None,
            "output_size": self.spec.size if self.spec else None,
            "resized_to_source": self.config.resize_to_source,
        }

    def with_run_options(self, **options: Any) -> PretrainedGenerator:
        twin = super().with_run_options(**options)
        loaded = ("dtype", "attention_slicing")
        if any(getattr(twin.config, k) != getattr(self.config, k) for k in loaded):
            twin._pipe = None  # the twin loads its own pipeline with its precision and attention
        return twin

    def _check_size(self, size: int) -> None:
        """Any size: LoRA resizes the real images to the pipeline's size, outputs follow the
        pipeline or (resize_to_source) the real images."""

    # ---- fit ------------------------------------------------------------------------------------
    def _train(self, data: ImageData, *, seed: int) -> dict[str, Any]:
        folder = self._open_folder()
        klass = folder.check_text2image()
        side, channels = folder.native_size()
        self._base = {
            "path": self.config.path,
            "pipeline_class": klass.__name__,
            "model_index_sha256": folder.index_sha256(),
            "sha256": folder.fingerprint(),
            "native_size": side,
            "native_channels": channels,
        }
        if not self.config.resize_to_source:
            # The spec describes the images sample() returns: the pipeline's, not the source's.
            self.spec = replace(self.spec, size=side, channels=channels)
        info = {"base": dict(self._base), "source_size": data.size, "output_size": self.spec.size}
        if self.config.lora is None:
            return {**info, "steps": 0, "device": self.device}
        pipe = self._load_base("fp32")  # adapters train in fp32 (mixed_precision: bf16 autocast)
        info |= self._train_lora(pipe, data, seed)
        self._pipe = self._ready(pipe)
        return info

    def _train_lora(self, pipe: Any, data: ImageData, seed: int) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F
        from diffusers import DDPMScheduler
        from peft.utils import get_peft_model_state_dict

        from generators.images.training import TrainState, autocast, train

        unet, vae, encoder, tokenizer = self._lora_parts(pipe)
        device, lora = self.device, self.config.lora
        pipe.to(device)
        with seeded(derive_seed(seed, LORA_STREAM)):
            self._add_adapter(unet)
        adapters = [p for p in unet.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(adapters, lora.learning_rate)
        if data.prompts is None:
            prompts = [self.config.prompt_template.format(label=n) for n in self.spec.label_names]
        else:  # a job's prompts (or captions): each image learns its own
            data, prompts = index_by_prompt(data)
        with torch.no_grad():
            ids = tokenize(tokenizer, prompts)
            label_states = encoder(ids.to(device))[0]  # (labels, tokens, width)
        # The noise schedule the pipeline's scheduler samples with, as a training schedule.
        schedule = DDPMScheduler.from_config(pipe.scheduler.config)
        side, channels = self._base["native_size"], self._base["native_channels"]
        scale = vae.config.scaling_factor
        timesteps = schedule.config.num_train_timesteps

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            with torch.no_grad():
                pixels = match_shape(images, side, channels) * 2 - 1
                posterior = vae.encode(pixels).latent_dist
                noise = torch.randn(posterior.mean.shape, generator=rng, device=device)
                latents = (posterior.mean + posterior.std * noise) * scale
            noise = torch.randn(latents.shape, generator=rng, device=device)
            t = torch.randint(0, timesteps, (len(latents),), generator=rng, device=device)
            noisy = schedule.add_noise(latents, noise, t)
            if schedule.config.prediction_type == "v_prediction":
                target = schedule.get_velocity(latents, noise, t)
            else:
                target = noise
            with autocast(device, self.config.mixed_precision):
                out = unet(noisy, t, encoder_hidden_states=label_states[labels]).sample
            loss = F.mse_loss(out.float(), target.float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(adapters, 1.0)
            optimizer.step()
            return {"loss": loss.detach()}

        info = train(
            name=f"{self.name}-lora",
            config=self.config.model_copy(update={"steps": lora.steps}),
            seed=seed,
            data=data,
            device=device,
            # Only the adapters are trained and checkpointed, never the base weights.
            state=TrainState(
                modules={"lora": torch.nn.ParameterList(adapters)},
                optimizers={"lora": optimizer},
            ),
            step=step,
        )
        state = get_peft_model_state_dict(unet)
        self._adapter = {k: v.detach().float().cpu().contiguous() for k, v in state.items()}
        return {**info, "lora_rank": lora.rank, "lora_prompts": prompts}

    def _lora_parts(self, pipe: Any) -> tuple[Any, Any, Any, Any]:
        parts = [getattr(pipe, n, None) for n in ("unet", "vae", "text_encoder", "tokenizer")]
        if None in parts or getattr(pipe, "text_encoder_2", None) is not None:
            raise ConfigError(
                f"lora fine-tunes Stable Diffusion 1.x/2.x pipelines (a unet, a vae, one "
                f"text_encoder and tokenizer); {self.config.path} holds a "
                f"{type(pipe).__name__}. Drop `lora` to sample it as it is."
            )
        for part in parts[:3]:
            part.requires_grad_(False)
        return tuple(parts)

    def _add_adapter(self, unet: Any) -> None:
        from peft import LoraConfig as PeftLoraConfig

        rank = self.config.lora.rank
        unet.add_adapter(PeftLoraConfig(r=rank, lora_alpha=rank, target_modules=list(LORA_TARGETS)))

    # ---- the pipeline ---------------------------------------------------------------------------
    def _open_folder(self) -> PipelineFolder:
        if self._folder is None:
            self._folder = PipelineFolder.open(self.config.path, self.config.cache_root())
        return self._folder

    def _load_base(self, dtype: str) -> Any:
        """The base pipeline in `dtype` on the CPU, from safetensors and JSON only."""
        import torch
        from diffusers import DiffusionPipeline

        folder = self._open_folder()
        folder.check_text2image()
        try:
            pipe = DiffusionPipeline.from_pretrained(
                folder.root,
                local_files_only=True,
                use_safetensors=True,
                trust_remote_code=False,
                dtype=getattr(torch, DTYPES[dtype]),
            )
        except (OSError, ValueError, RuntimeError, TypeError, KeyError) as exc:
            raise DataError(
                f"Cannot load the diffusers pipeline in {folder.root}: {exc}\nIts components "
                "must be the ones saved together by `pipe.save_pretrained(folder)`, with "
                ".safetensors weights."
            ) from None
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _ready(self, pipe: Any) -> Any:
        """`pipe` on the device, in the sampling precision, with attention slicing if asked."""
        import torch

        dtype = getattr(torch, DTYPES[self.sampling_dtype])
        pipe.to(self.device)
        if pipe.dtype != dtype:  # trained in fp32, sampled in bf16 / fp16 on CUDA
            pipe.to(dtype)
        if self.config.attention_slicing:
            pipe.enable_attention_slicing()
        return pipe

    def _pipeline(self) -> Any:
        if self._pipe is None:
            pipe = self._load_base(self.sampling_dtype)
            if self._adapter is not None:
                from peft.utils import set_peft_model_state_dict

                self._add_adapter(pipe.unet)
                set_peft_model_state_dict(pipe.unet, self._adapter)
            self._pipe = self._ready(pipe)
        return self._pipe

    def _generate_prompted(self, prompts: list[str], rng: torch.Generator) -> torch.Tensor:
        negative = self.config.negative_prompt
        images = self._pipeline()(
            prompt=prompts,
            negative_prompt=None if negative is None else [negative] * len(prompts),
            num_inference_steps=self.config.num_inference_steps,
            guidance_scale=self.config.guidance_scale,
            generator=rng,
            output_type="pt",
        ).images
        return match_shape(images.float(), self.spec.size, self.spec.channels)

    # ---- saving ---------------------------------------------------------------------------------
    def _save_weights(self, directory: Path) -> None:
        (directory / BASE_FILE).write_text(json.dumps(self._base, indent=2))
        if self._adapter is not None:
            from diffusers import StableDiffusionPipeline

            StableDiffusionPipeline.save_lora_weights(
                directory / LORA_DIR,
                unet_lora_layers=self._adapter,
                weight_name=LORA_WEIGHTS,
                safe_serialization=True,
            )

    def _load_weights(self, directory: Path) -> None:
        base_path = directory / BASE_FILE
        if not base_path.is_file():
            raise DataError(f"{base_path} does not exist: {directory} is no pretrained generator.")
        self._base = json.loads(base_path.read_text())
        now = self._open_folder().fingerprint()
        if now != self._base["sha256"]:
            raise IntegrityError(
                f"The base pipeline {self.config.path} changed since this generator was fitted "
                f"(sha256 {self._base['sha256'][:12]}..., now {now[:12]}...). "
                "Restore the folder it was fitted on, or fit again on the new one (a job reuses "
                "its cached fit for an unchanged config: give the new folder its own path)."
            )
        if self.config.lora is not None:
            from safetensors.torch import load_file

            saved = load_file(directory / LORA_DIR / LORA_WEIGHTS)
            # diffusers' LoRA format prefixes the UNet's keys with "unet."; peft's state has none.
            self._adapter = {k.removeprefix("unet."): v for k, v in saved.items()}


def match_shape(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """`images` (B, C, H, W) in [0, 1] as (B, channels, size, size): bilinear (antialiased)
    resizing, RGB -> grayscale by luma, grayscale -> RGB by repetition."""
    import torch
    import torch.nn.functional as F

    have = images.shape[1]
    if have != channels:
        if (have, channels) == (3, 1):
            weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device)
            images = (images * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        elif (have, channels) == (1, 3):
            images = images.expand(-1, 3, -1, -1)
        else:
            raise DataError(
                f"Cannot turn {have}-channel images into {channels}-channel ones; use real "
                "images with the pipeline's channels (1 or 3)."
            )
    if images.shape[-2:] != (size, size):
        images = F.interpolate(
            images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return images
