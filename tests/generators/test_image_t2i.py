"""`t2i`'s saved folder is a stock Stable Diffusion pipeline that reproduces the generator's
samples; a frozen local text encoder stays as it was loaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import ConfigError, DataError
from generators import create_generator
from generators.images.base import NOISE_STREAM
from generators.images.clip_text import text_encoder_config, write_char_tokenizer
from generators.seeding import derive_seed
from sources.images import load_digits_images

TINY = {
    "vae_block_out_channels": (8, 16),
    "block_out_channels": (16, 32),
    "cross_attention_dim": 8,
    "text_heads": 2,
    "text_layers": 1,
    "vae_steps": 3,
    "steps": 3,
    "sampling_steps": 3,
    "batch_size": 16,
    "verbose": False,
}
PROMPT = "a handwritten digit 5"


def captioned_digits(n: int = 200):
    data = load_digits_images().subset(range(n))
    return data.with_prompts([f"a handwritten digit {data.label_names[i]}" for i in data.labels])


def test_saved_pipeline_loads_with_diffusers_alone_and_samples_the_same_images(tmp_path):
    # Setup
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    generator = create_generator("t2i", TINY).fit(captioned_digits(), seed=0)
    generator.save(tmp_path)
    wanted = {"prompt": PROMPT, "label": "5"}
    expected = np.stack(generator.sample(4, seed=7, conditions=wanted)["image"])

    # Run: no trust_remote_code, no Synthpipe code.
    pipe = DiffusionPipeline.from_pretrained(tmp_path / "pipeline", local_files_only=True)
    images = pipe(
        prompt=[PROMPT] * 4,
        height=8,
        width=8,
        guidance_scale=generator.config.guidance_scale,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(derive_seed(7, NOISE_STREAM, 0)),
        output_type="pt",
    ).images

    # Assert
    pixels = images.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert type(pipe) is StableDiffusionPipeline
    assert pipe.safety_checker is None
    np.testing.assert_array_equal(pixels, expected)


@pytest.fixture
def local_text_encoder(tmp_path):
    """A tiny CLIP text encoder + character tokenizer in Stable Diffusion's folder layout."""
    from transformers import CLIPTextModel

    tokenizer = write_char_tokenizer(tmp_path / "sd" / "tokenizer", max_length=24)
    torch.manual_seed(0)
    encoder = CLIPTextModel(text_encoder_config(tokenizer, hidden_size=12, heads=3, layers=1))
    encoder.save_pretrained(tmp_path / "sd" / "text_encoder")
    return tmp_path / "sd", encoder


def test_a_frozen_local_text_encoder_is_used_as_loaded(local_text_encoder):
    # Setup
    folder, original = local_text_encoder

    # Run
    generator = create_generator("t2i", {**TINY, "text_encoder_path": str(folder)})
    generator.fit(captioned_digits(), seed=0)

    # Assert
    assert generator.training_info()["text_encoder_trained"] is False
    assert generator._unet.config.cross_attention_dim == 12
    assert generator._tokenizer.model_max_length == 24
    trained = generator._text_encoder.state_dict()
    for name, weight in original.state_dict().items():
        torch.testing.assert_close(trained[name], weight)
    assert generator.sample(2, seed=0, conditions={"prompt": PROMPT})["image"][0].shape == (8, 8, 1)


def test_a_text_encoder_path_without_its_folders_is_a_config_error_naming_them(tmp_path):
    # Setup
    (tmp_path / "tokenizer").mkdir()
    generator = create_generator("t2i", {**TINY, "text_encoder_path": str(tmp_path)})

    # Run / Assert
    with pytest.raises(ConfigError, match="text_encoder"):
        generator.fit(captioned_digits(), seed=0)


def test_fit_on_images_without_prompts_is_a_data_error_naming_them():
    # Setup
    plain = load_digits_images().subset(range(32))

    # Run / Assert
    with pytest.raises(DataError, match="prompts"):
        create_generator("t2i", TINY).fit(plain, seed=0)
