"""`t2i`: text-to-image latent diffusion: an `AutoencoderKL`, then a `UNet2DConditionModel` whose
cross-attention reads the hidden states of a small `CLIPTextModel` over each image's prompt.

It fits images with one prompt each (`ImageData.prompts`: a `prompted_image` job's `prompts:`
templates, or captions). The two training stages are `latent.LatentDiffusion`'s; in the UNet
stage the text encoder (over the local character-level `CLIPTokenizer` of `clip_text`) trains
with the UNet, and `cond_dropout` replaces a prompt by "" (the empty prompt Stable Diffusion's
pipeline guides against), so one network learns the conditional and the unconditional
prediction that classifier-free guidance mixes at sample time (`guidance_scale`).
`text_encoder_path` loads a frozen text encoder and tokenizer from a local folder instead
(Stable Diffusion's layout: `tokenizer/` and `text_encoder/`); the UNet then reads its width.

Saved as a stock `StableDiffusionPipeline` folder, `pipeline/` (model_index.json, vae/, unet/,
text_encoder/, tokenizer/, scheduler/ = the configured sampler; no safety checker), which
`DiffusionPipeline.from_pretrained(dir / "pipeline", local_files_only=True)` loads with diffusers
and transformers alone, no remote code; Synthpipe loads each component's safetensors and JSON.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from core.errors import ConfigError, DataError
from core.images import ImageData
from generators.images.clip_text import text_encoder_config, tokenize, write_char_tokenizer
from generators.images.latent import (
    LOAD_OPTIONS,
    LatentDiffusion,
    LatentDiffusionConfig,
    component_errors,
)
from generators.images.prompted import (
    PromptedImageConfig,
    PromptedImageGenerator,
    index_by_prompt,
)
from generators.registry import register

if TYPE_CHECKING:
    import torch

PIPELINE_DIR = "pipeline"
TEXT_ENCODER_DIR, TOKENIZER_DIR = "text_encoder", "tokenizer"
NULL_PROMPT = ""  # what classifier-free guidance conditions the unconditional prediction on


@dataclass(frozen=True)
class TextModel:
    """A tokenizer, the width of its encoder's hidden states, how to build the encoder, and
    whether it trains with the UNet."""

    tokenizer: Any
    width: int
    build: Callable[[], Any]
    trains: bool


class Text2ImageConfig(LatentDiffusionConfig, PromptedImageConfig):
    conditional: bool = Field(
        True, description="Condition on the prompts; false trains on the empty prompt only."
    )
    text_layers: int = Field(2, ge=1, description="Transformer layers of the text encoder.")
    text_heads: int = Field(
        4, ge=1, description="Attention heads of the text encoder; divides cross_attention_dim."
    )
    max_prompt_tokens: int = Field(
        32, ge=3, description="Prompt length in characters + 2 (start, end); longer ones are cut."
    )
    text_encoder_path: str | None = Field(
        None,
        description="A local folder with tokenizer/ and text_encoder/ (e.g. a Stable Diffusion "
        "folder): a frozen encoder used instead of training one; its width replaces "
        "cross_attention_dim.",
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = (
        LatentDiffusionConfig.RUN_FIELDS | PromptedImageConfig.RUN_FIELDS
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Text2ImageConfig:
        if self.text_encoder_path is None and self.cross_attention_dim % self.text_heads:
            raise ValueError(
                f"text_heads={self.text_heads} must divide cross_attention_dim="
                f"{self.cross_attention_dim} (the text encoder's width)."
            )
        return self


@register("t2i")
class Text2ImageGenerator(LatentDiffusion, PromptedImageGenerator):
    """Latent diffusion conditioned on a CLIP text encoder's hidden states."""

    config_class = Text2ImageConfig
    config: Text2ImageConfig
    # Stable Diffusion's pipeline rewrites a scheduler to steps_offset 1 (with a deprecation
    # warning), so the training schedule has it from the start.
    SCHEDULER_OPTIONS: ClassVar[dict[str, Any]] = {
        **LatentDiffusion.SCHEDULER_OPTIONS,
        "steps_offset": 1,
    }

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._text_encoder: Any = None  # EMA weights when trained here
        self._tokenizer: Any = None

    def _check_real(self, real: Any) -> None:
        super()._check_real(real)
        if real.prompts is None:
            raise DataError(
                f"Generator {self.name!r} learns images from their prompts, and these images "
                'have none: run it in a job with `prompts:` (e.g. "a photo of a {label}"), or '
                "fit ImageData(..., prompts=[...]) with one prompt per image."
            )

    # ---- text encoder ---------------------------------------------------------------------------
    def _text_model(self) -> TextModel:
        """The tokenizer and text encoder: a fresh one trained here, or a frozen local one."""
        from transformers import CLIPTextModel, CLIPTokenizer

        path = self.config.text_encoder_path
        if path is None:
            with tempfile.TemporaryDirectory() as folder:
                tokenizer = write_char_tokenizer(folder, max_length=self.config.max_prompt_tokens)
            config = text_encoder_config(
                tokenizer,
                hidden_size=self.config.cross_attention_dim,
                layers=self.config.text_layers,
                heads=self.config.text_heads,
            )
            return TextModel(tokenizer, config.hidden_size, lambda: CLIPTextModel(config), True)
        folder = Path(path)
        missing = [d for d in (TOKENIZER_DIR, TEXT_ENCODER_DIR) if not (folder / d).is_dir()]
        if missing:
            raise ConfigError(
                f"text_encoder_path {path!r} has no {' or '.join(missing)} folder; point it at a "
                "folder holding tokenizer/ and text_encoder/ (a Stable Diffusion folder)."
            )
        with component_errors(folder):
            tokenizer = CLIPTokenizer.from_pretrained(folder / TOKENIZER_DIR, local_files_only=True)
            encoder = CLIPTextModel.from_pretrained(folder / TEXT_ENCODER_DIR, **LOAD_OPTIONS)
        return TextModel(tokenizer, encoder.config.hidden_size, lambda: encoder, False)

    # ---- training -------------------------------------------------------------------------------
    def _train(self, data: ImageData, *, seed: int) -> dict[str, Any]:
        from generators.images.prompt_tokens import PromptTokens

        vae_info = self._train_vae(data, seed)
        # The UNet stage sees each image's prompt as an index into the distinct prompts, so the
        # shared loop's labels pick token rows of one table (the last row: the empty prompt).
        by_prompt, prompts = index_by_prompt(data)
        text = self._text_model()
        ids = tokenize(text.tokenizer, [*prompts, NULL_PROMPT])
        unet_info, tokens = self._train_unet(
            by_prompt,
            seed,
            conditioner_name=TEXT_ENCODER_DIR,
            # Built in the UNet stage's seeded block: a trained encoder's start follows the seed.
            build_conditioner=lambda: PromptTokens(text.build(), ids),
            cross_attention_dim=text.width,
            train_conditioner=text.trains,
        )
        self._text_encoder, self._tokenizer = tokens.text_encoder.eval(), text.tokenizer
        return {
            **unet_info,
            "vae": vae_info,
            "prompts": len(prompts),
            "text_encoder_trained": text.trains,
        }

    # ---- sampling -------------------------------------------------------------------------------
    def pipeline(self) -> Any:
        """The trained components as a stock `StableDiffusionPipeline` with the configured
        sampler."""
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(
            vae=self._vae,
            text_encoder=self._text_encoder,
            tokenizer=self._tokenizer,
            unet=self._unet,
            scheduler=self.sampler(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _generate_prompted(self, prompts: list[str], rng: torch.Generator) -> torch.Tensor:
        with self.precision():
            # A fresh pipeline (and scheduler) per batch: multistep solvers keep state.
            return self.pipeline()(
                prompt=prompts,
                height=self.spec.size,
                width=self.spec.size,
                guidance_scale=self.config.guidance_scale,
                num_inference_steps=self.num_inference_steps,
                generator=rng,
                output_type="pt",
            ).images

    # ---- saving ---------------------------------------------------------------------------------
    def _save_weights(self, directory: Path) -> None:
        self.pipeline().save_pretrained(directory / PIPELINE_DIR, safe_serialization=True)

    def _load_weights(self, directory: Path) -> None:
        from transformers import CLIPTextModel, CLIPTokenizer

        folder = directory / PIPELINE_DIR
        self._load_latent_stages(folder)
        with component_errors(folder):
            encoder = CLIPTextModel.from_pretrained(folder / TEXT_ENCODER_DIR, **LOAD_OPTIONS)
            tokenizer = CLIPTokenizer.from_pretrained(folder / TOKENIZER_DIR, local_files_only=True)
        self._text_encoder, self._tokenizer = encoder.to(self.device).eval(), tokenizer
