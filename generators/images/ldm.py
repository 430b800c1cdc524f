"""`ldm`: class-conditional latent diffusion: an `AutoencoderKL` trained on the real images,
then a `UNet2DConditionModel` denoising in its latent space (`latent.LatentDiffusion`: the two
training stages, the samplers and precision it shares with `t2i`).

The label enters through a learned class embedding (`ldm_pipeline.ClassEmbedding`, one token of
`cross_attention_dim`) passed to the UNet's cross-attention as `encoder_hidden_states`; its last
row is the null class that `cond_dropout` trains and classifier-free guidance mixes in.

Sampling (run options, no retraining): `sampler` ddpm / ddim / dpm_solver with `sampling_steps`,
`guidance_scale`, `dtype` (fp32 / bf16 / fp16 autocast on CUDA; CPU always samples in fp32),
`sample_batch_size`, and the image base's `cpu_threads` (torch's CPU threads while fitting and
sampling).

Saved as a diffusers pipeline folder, `pipeline/` (model_index.json, vae/, unet/,
class_embedding/, scheduler/ = the configured sampler, plus the pipeline code `pipeline.py`), and
`generator.json` / `image_spec.json` beside it. Outside Synthpipe:
`DiffusionPipeline.from_pretrained(dir / "pipeline", local_files_only=True,
trust_remote_code=True)`. Synthpipe itself loads each component's safetensors and JSON and never
runs the code in a saved folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from core.images import ImageData
from generators.images.base import ImageGenerator
from generators.images.latent import (
    LOAD_OPTIONS,
    LatentDiffusion,
    LatentDiffusionConfig,
    component_errors,
)
from generators.registry import register

if TYPE_CHECKING:
    import torch

PIPELINE_DIR = "pipeline"
PIPELINE_CLASS = "ClassConditionalLatentPipeline"
EMBEDDING_CLASS = "ClassEmbedding"
EMBEDDING_DIR = "class_embedding"
# The pipeline code written into a saved folder (diffusers' custom-pipeline and custom-component
# conventions): `<folder>/pipeline.py` and `<folder>/class_embedding/class_embedding.py`.
PIPELINE_CODE = ("pipeline.py", f"{EMBEDDING_DIR}/{EMBEDDING_DIR}.py")


class LDMConfig(LatentDiffusionConfig):
    guidance_scale: float = Field(
        2.0, ge=0, description="Classifier-free guidance at sample time; <= 1: none."
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = LatentDiffusionConfig.RUN_FIELDS | {"guidance_scale"}


@register("ldm")
class LDMGenerator(LatentDiffusion, ImageGenerator):
    """Latent diffusion with a class embedding and classifier-free guidance."""

    config_class = LDMConfig
    config: LDMConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._embedding: Any = None  # EMA weights

    def _build_embedding(self) -> torch.nn.Module:
        from generators.images.ldm_pipeline import ClassEmbedding

        classes = self.spec.label_names if self.config.conditional else []
        return ClassEmbedding(len(classes), self.config.cross_attention_dim, list(classes))

    # ---- training -------------------------------------------------------------------------------
    def _train(self, data: ImageData, *, seed: int) -> dict[str, Any]:
        vae_info = self._train_vae(data, seed)
        unet_info, self._embedding = self._train_unet(
            data,
            seed,
            conditioner_name=EMBEDDING_DIR,
            build_conditioner=self._build_embedding,
            cross_attention_dim=self.config.cross_attention_dim,
        )
        return {**unet_info, "vae": vae_info}

    # ---- sampling -------------------------------------------------------------------------------
    def pipeline(self) -> Any:
        """The diffusers pipeline of the trained components, with the configured sampler."""
        from generators.images.ldm_pipeline import ClassConditionalLatentPipeline

        pipe = ClassConditionalLatentPipeline(
            vae=self._vae,
            unet=self._unet,
            scheduler=self.sampler(),
            class_embedding=self._embedding,
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _generate(self, n: int, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        with self.precision():
            # A fresh pipeline (and scheduler) per batch: multistep solvers keep state.
            return self.pipeline()(
                class_labels=labels,
                batch_size=n,
                guidance_scale=self.config.guidance_scale,
                num_inference_steps=self.num_inference_steps,
                generator=rng,
                output_type="pt",
            ).images

    # ---- saving ---------------------------------------------------------------------------------
    def _save_weights(self, directory: Path) -> None:
        folder = directory / PIPELINE_DIR
        self.pipeline().save_pretrained(folder, safe_serialization=True)
        # Point model_index.json at the code saved with the folder, so diffusers alone loads it.
        index_path = folder / "model_index.json"
        index = json.loads(index_path.read_text())
        index["_class_name"] = ["pipeline", PIPELINE_CLASS]
        index[EMBEDDING_DIR] = [EMBEDDING_DIR, EMBEDDING_CLASS]
        index_path.write_text(json.dumps(index, indent=2))
        code = Path(__file__).with_name("ldm_pipeline.py")
        for target in PIPELINE_CODE:
            shutil.copyfile(code, folder / target)

    def _load_weights(self, directory: Path) -> None:
        from generators.images.ldm_pipeline import ClassEmbedding

        folder = directory / PIPELINE_DIR
        self._load_latent_stages(folder)
        with component_errors(folder):
            embedding = ClassEmbedding.from_pretrained(folder / EMBEDDING_DIR, **LOAD_OPTIONS)
        self._embedding = embedding.to(self.device).eval()
