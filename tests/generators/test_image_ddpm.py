"""DDPM specifics: the sampler is chosen at sample time from one trained model (no retraining),
its choice is reported for lineage and saved, and the UNet and scheduler configs sit beside the
weights."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from core.errors import ConfigError, DataError
from core.images import balanced_labels
from generators import Generator, create_generator, load_saved_generator
from sources.images import load_digits_images

TINY = {
    "block_out_channels": (16, 32),
    "steps": 3,
    "batch_size": 16,
    "conditional": True,
    "verbose": False,
}


@pytest.fixture(scope="module")
def ddpm() -> Generator:
    return create_generator("ddpm", TINY).fit(load_digits_images(), seed=0)


@pytest.mark.parametrize(
    ("sampler", "steps", "scheduler"),
    [
        ("ddpm", 12, "DDPMScheduler"),
        ("ddim", 6, "DDIMScheduler"),
        ("dpm_solver", 4, "DPMSolverMultistepScheduler"),
    ],
)
def test_with_sampler_samples_valid_images_from_the_same_weights(ddpm, sampler, steps, scheduler):
    # Setup
    wanted = balanced_labels(10, ddpm.spec.label_names)

    # Run
    swapped = ddpm.with_sampler(sampler, steps)
    frame = swapped.sample(10, seed=0, conditions=wanted)

    # Assert
    assert swapped.sampling_info() == {
        "sampler": sampler,
        "scheduler": scheduler,
        "num_inference_steps": steps,
    }
    assert swapped._unet is ddpm._unet  # the trained weights are shared, not retrained
    assert list(frame["label"]) == list(wanted["label"])
    images = np.stack(frame["image"])
    assert images.shape == (10, 8, 8, 1) and images.dtype == np.uint8
    assert ddpm.config.sampler == "ddim" and ddpm.config.sampling_steps is None


def test_with_sampler_different_samplers_give_different_images(ddpm):
    # Run
    images = [
        np.stack(
            ddpm.with_sampler(sampler, steps).sample(4, seed=0, conditions={"label": "1"})["image"]
        )
        for sampler, steps in (("ddpm", 12), ("ddim", 6), ("dpm_solver", 4))
    ]

    # Assert
    assert not np.array_equal(images[0], images[1])
    assert not np.array_equal(images[1], images[2])


@pytest.mark.parametrize(("sampler", "steps"), [("ddpm", 1000), ("ddim", 50), ("dpm_solver", 20)])
def test_sampling_info_default_steps_per_sampler(ddpm, sampler, steps):
    # Run
    info = ddpm.with_sampler(sampler).sampling_info()

    # Assert
    assert info["num_inference_steps"] == steps


def test_with_sampler_unknown_name_raises_config_error(ddpm):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("sampler: Input should be 'ddpm', 'ddim'")):
        ddpm.with_sampler("euler")


def test_save_keeps_sampler_and_writes_diffusers_configs(ddpm, tmp_path):
    # Setup
    ddpm.with_sampler("dpm_solver", 4).save(tmp_path)

    # Run
    loaded = load_saved_generator(tmp_path)

    # Assert
    assert loaded.sampling_info()["sampler"] == "dpm_solver"
    unet = json.loads((tmp_path / "unet" / "config.json").read_text())
    assert (unet["sample_size"], unet["num_class_embeds"], unet["block_out_channels"]) == (
        8,
        10,
        [16, 32],
    )
    scheduler = json.loads((tmp_path / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DDPMScheduler"
    assert scheduler["num_train_timesteps"] == 1000


def test_load_pickled_unet_weights_instead_of_safetensors_raises(ddpm, tmp_path):
    # Setup: the UNet's weights swapped for a pickled .bin (what diffusers would fall back to).
    import torch
    from safetensors.torch import load_file

    ddpm.save(tmp_path)
    weights = tmp_path / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(weights), weights.with_suffix(".bin"))
    weights.unlink()

    # Run / Assert
    with pytest.raises(DataError, match=re.escape(f"Cannot load the DDPM saved in {tmp_path}")):
        load_saved_generator(tmp_path)


def test_config_groups_not_dividing_channels_raises():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("norm_num_groups=8 must divide every entry")):
        create_generator("ddpm", {"block_out_channels": (12, 32)})


def test_fit_side_not_divisible_by_the_unet_levels_raises(ddpm):
    # Setup: three UNet levels halve the side twice, so it must be a multiple of 4.
    digits = load_digits_images(size=10)

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("its side must be a multiple of 4; got 10x10")):
        create_generator("ddpm", {**TINY, "block_out_channels": (8, 16, 32)}).fit(digits)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_loss_weights_min_snr_caps_the_low_noise_steps(prediction_type):
    # Setup
    from diffusers import DDPMScheduler

    from generators.images.ddpm import loss_weights

    scheduler = DDPMScheduler(num_train_timesteps=1000)
    alpha_bar = scheduler.alphas_cumprod.double()
    snr = alpha_bar / (1 - alpha_bar)

    # Run
    uniform = loss_weights(scheduler, prediction_type, None)
    weights = loss_weights(scheduler, prediction_type, 5.0).double()

    # Assert: SNR falls with t; above gamma the weight is gamma / SNR (eps) or gamma / (SNR + 1)
    # (v), below it 1 (eps) or SNR / (SNR + 1) (v).
    assert uniform.tolist() == [1.0] * 1000
    low_noise, high_noise = snr > 5, snr <= 5
    if prediction_type == "epsilon":
        assert torch_close(weights[low_noise], 5 / snr[low_noise])
        assert torch_close(weights[high_noise], 1.0)
    else:
        assert torch_close(weights[low_noise], 5 / (snr[low_noise] + 1))
        assert torch_close(weights[high_noise], snr[high_noise] / (snr[high_noise] + 1))
    assert weights[0] < 0.01  # the least noisy step counts least


def torch_close(actual, expected) -> bool:
    import torch

    return torch.allclose(actual, torch.as_tensor(expected, dtype=actual.dtype), rtol=1e-5)


def test_v_prediction_model_saves_its_prediction_type_and_reloads_identically(tmp_path):
    # Setup
    params = {**TINY, "prediction_type": "v_prediction", "snr_gamma": 5.0, "sampling_steps": 3}
    model = create_generator("ddpm", params).fit(load_digits_images().subset(range(200)), seed=0)

    # Run
    model.save(tmp_path)
    loaded = load_saved_generator(tmp_path)

    # Assert: every sampler built from the saved training scheduler reads v, not epsilon.
    scheduler = json.loads((tmp_path / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction"
    assert loaded._sampling_scheduler().config.prediction_type == "v_prediction"
    wanted = balanced_labels(10, model.spec.label_names)
    first = model.sample(10, seed=3, conditions=wanted)
    again = loaded.sample(10, seed=3, conditions=wanted)
    np.testing.assert_array_equal(np.stack(first["image"]), np.stack(again["image"]))
