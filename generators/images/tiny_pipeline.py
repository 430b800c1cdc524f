"""A tiny, randomly initialised Stable Diffusion pipeline folder, built from config (no hub).

It has the layout of a real one (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
scheduler/; safetensors weights), so the `pretrained` generator, its tests, its benchmark and the
example job load it exactly as they would a user's Stable Diffusion folder. Its images are noise
shaped by random weights: it exercises the plumbing, not image quality.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from generators.images.clip_text import text_encoder_config, write_char_tokenizer
from generators.seeding import seeded

# Two levels each: the VAE halves the side once, the UNet's 32/64 channels take ~0.8M parameters.
BLOCKS = (32, 64)
WIDTH = 32  # the text encoder's hidden size = the UNet's cross-attention width


def write_tiny_pipeline(
    directory: str | Path, *, size: int = 16, channels: int = 3, seed: int = 0
) -> Path:
    """Save a random `StableDiffusionPipeline` drawing `size` x `size` images with `channels`
    channels into `directory` (created); the same seed writes the same weights."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    levels = len(BLOCKS)
    latent_size = size // 2 ** (levels - 1)
    with tempfile.TemporaryDirectory() as scratch, seeded(seed):
        # Characters are tokens: 64 hold a prompt such as "a photo of a handwritten digit 3".
        tokenizer = write_char_tokenizer(scratch, max_length=64)
        pipe = StableDiffusionPipeline(
            vae=AutoencoderKL(
                in_channels=channels,
                out_channels=channels,
                down_block_types=("DownEncoderBlock2D",) * levels,
                up_block_types=("UpDecoderBlock2D",) * levels,
                block_out_channels=BLOCKS,
                latent_channels=4,
                layers_per_block=1,
                sample_size=size,
            ),
            text_encoder=CLIPTextModel(text_encoder_config(tokenizer, hidden_size=WIDTH)),
            tokenizer=tokenizer,
            unet=UNet2DConditionModel(
                sample_size=latent_size,
                in_channels=4,
                out_channels=4,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                block_out_channels=BLOCKS,
                layers_per_block=1,
                cross_attention_dim=WIDTH,
                attention_head_dim=8,
            ),
            # Stable Diffusion's DDIM settings: latents not clipped to [-1, 1], steps offset by 1.
            scheduler=DDIMScheduler(
                beta_schedule="scaled_linear", clip_sample=False, steps_offset=1
            ),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(directory, safe_serialization=True)
    return Path(directory)
