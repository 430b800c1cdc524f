"""`ldm`'s saved folder is a diffusers pipeline that reproduces the generator's samples."""

from __future__ import annotations

import numpy as np
import torch

from generators import create_generator
from generators.images.base import NOISE_STREAM
from generators.seeding import derive_seed
from sources.images import load_digits_images

TINY = {
    "vae_block_out_channels": (8, 16),
    "block_out_channels": (16, 32),
    "cross_attention_dim": 8,
    "vae_steps": 3,
    "steps": 3,
    "sampling_steps": 3,
    "batch_size": 16,
    "conditional": True,
    "verbose": False,
}


def test_saved_pipeline_loads_with_diffusers_alone_and_samples_the_same_images(tmp_path):
    # Setup
    from diffusers import DiffusionPipeline

    generator = create_generator("ldm", TINY).fit(load_digits_images(), seed=0)
    generator.save(tmp_path)
    expected = np.stack(generator.sample(4, seed=7, conditions={"label": "5"})["image"])

    # Run
    pipe = DiffusionPipeline.from_pretrained(
        tmp_path / "pipeline", local_files_only=True, trust_remote_code=True
    )
    images = pipe(
        class_labels=["5"] * 4,
        guidance_scale=generator.config.guidance_scale,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(derive_seed(7, NOISE_STREAM, 0)),
        output_type="pt",
    ).images

    # Assert
    pixels = images.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert type(pipe).__name__ == "ClassConditionalLatentPipeline"
    np.testing.assert_array_equal(pixels, expected)
