"""A class-conditional latent diffusion pipeline for diffusers, free of Synthpipe imports.

This file is copied into every saved `ldm` folder (as `pipeline.py` and
`class_embedding/class_embedding.py`) so the folder loads with diffusers alone:

    pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True, trust_remote_code=True)
    images = pipe(class_labels=["coffee", "rocket"], guidance_scale=2.0).images  # PIL images

Stock diffusers pipelines take text embeddings from a CLIP text encoder (which needs
`transformers`); here a learned table of class embeddings, one row per class plus a last "null"
row for classifier-free guidance, gives the UNet's `encoder_hidden_states` (one token per image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, ModelMixin
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.utils.torch_utils import randn_tensor
from torch import nn


class ClassEmbedding(ModelMixin, ConfigMixin):
    """`num_classes` learned vectors of size `dim` and a null vector (index `num_classes`)."""

    @register_to_config
    def __init__(self, num_classes: int, dim: int, label_names: Sequence[str] = ()):
        super().__init__()
        self.embedding = nn.Embedding(num_classes + 1, dim)

    @property
    def null_index(self) -> int:
        return self.config.num_classes

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """Class indices `(B,)` -> encoder hidden states `(B, 1, dim)`."""
        return self.embedding(labels)[:, None]


class ClassConditionalLatentPipeline(DiffusionPipeline):
    """Class embedding -> UNet2DConditionModel denoising in the latent space -> AutoencoderKL."""

    model_cpu_offload_seq = "class_embedding->unet->vae"

    def __init__(self, vae, unet, scheduler, class_embedding):
        super().__init__()
        self.register_modules(
            vae=vae, unet=unet, scheduler=scheduler, class_embedding=class_embedding
        )

    def class_indices(self, class_labels, batch_size: int | None) -> torch.Tensor:
        """Names or indices -> index tensor; None: the null class (unconditional samples)."""
        embedding = self.class_embedding
        if class_labels is None:
            return torch.full((batch_size or 1,), embedding.null_index, dtype=torch.long)
        if isinstance(class_labels, torch.Tensor):
            return class_labels.long().cpu()
        names = list(embedding.config.label_names)
        indices = []
        for label in class_labels:
            if isinstance(label, str):
                if label not in names:
                    raise ValueError(f"Unknown class {label!r}; classes: {names}.")
                label = names.index(label)
            indices.append(int(label))
        return torch.tensor(indices, dtype=torch.long)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: Sequence[int | str] | torch.Tensor | None = None,
        batch_size: int | None = None,
        guidance_scale: float = 1.0,
        num_inference_steps: int = 20,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ):
        """Images for `class_labels` (names or indices), or `batch_size` unconditional ones.

        `guidance_scale` > 1 mixes the conditional and null-class predictions (classifier-free
        guidance): eps = eps_null + g * (eps_class - eps_null). `output_type`: "pil", "np"
        (B, H, W, C floats in [0, 1]) or "pt" (B, C, H, W in [0, 1]).
        """
        device, unet, vae = self._execution_device, self.unet, self.vae
        labels = self.class_indices(class_labels, batch_size).to(device)
        n = len(labels)
        shape = (n, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
        # Float32 latents whatever the weights' dtype: the scheduler's arithmetic stays exact.
        latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = latents * self.scheduler.init_noise_sigma
        context = self.class_embedding(labels)
        guided = guidance_scale > 1 and bool((labels != self.class_embedding.null_index).any())
        if guided:
            null = torch.full_like(labels, self.class_embedding.null_index)
            context = torch.cat([self.class_embedding(null), context])
        context = context.to(unet.dtype)
        for t in self.progress_bar(self.scheduler.timesteps):
            model_input = torch.cat([latents] * 2) if guided else latents
            model_input = self.scheduler.scale_model_input(model_input, t).to(unet.dtype)
            eps = unet(model_input, t, encoder_hidden_states=context).sample.float()
            if guided:
                eps_null, eps_class = eps.chunk(2)
                eps = eps_null + guidance_scale * (eps_class - eps_null)
            latents = self.scheduler.step(eps, t, latents, generator=generator).prev_sample
        decoded = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
        images = (decoded.float() / 2 + 0.5).clamp(0, 1)  # (B, C, H, W)
        if output_type == "np":
            images = images.permute(0, 2, 3, 1).cpu().numpy()
        elif output_type == "pil":
            images = _to_pil(images)
        elif output_type != "pt":
            raise ValueError(f"output_type must be 'pil', 'np' or 'pt'; got {output_type!r}.")
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)


def _to_pil(images: torch.Tensor) -> list:
    from PIL import Image

    pixels = images.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    if pixels.shape[-1] == 1:
        return [Image.fromarray(np.ascontiguousarray(p[..., 0]), mode="L") for p in pixels]
    return [Image.fromarray(np.ascontiguousarray(p), mode="RGB") for p in pixels]
