"""DCGAN and VAE options: the GAN stabilisers (EMA of the generator, hinge loss, spectral norm,
projection discriminator, TTUR) fit reproducibly and round-trip, the EMA weights are what samples
and is saved, and the VAE's sampling temperature is a run option (0 decodes the prior mean)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.images import ImageData
from generators import Generator, create_generator, load_saved_generator
from generators.images.dcgan import WEIGHTS_FILE
from generators.images.networks import DCGANDiscriminatorNet, init_dcgan_weights
from sources.images import load_digits_images

TINY = {"latent_dim": 8, "base_channels": 8, "steps": 4, "batch_size": 16, "verbose": False}
STABILISED = {
    **TINY,
    "conditional": True,
    "loss": "hinge",
    "spectral_norm": True,
    "conditioning": "projection",
    "discriminator_learning_rate": 4e-4,
    "ema_decay": 0.9,
}


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_digits_images().subset(range(128))


def images_of(generator: Generator, **sample: object) -> np.ndarray:
    return np.stack(generator.sample(10, seed=0, **sample)["image"])


def test_dcgan_stabilised_fit_repeats_and_round_trips(digits, tmp_path):
    # Setup
    generator = create_generator("dcgan", STABILISED).fit(digits, seed=2)
    generator.save(tmp_path)

    # Run
    refit = create_generator("dcgan", STABILISED).fit(digits, seed=2)
    loaded = load_saved_generator(tmp_path)

    # Assert
    expected = images_of(generator)
    np.testing.assert_array_equal(images_of(refit), expected)
    np.testing.assert_array_equal(images_of(loaded), expected)
    assert loaded.config == generator.config


def test_dcgan_stabilised_resume_matches_uninterrupted_run(digits, tmp_path):
    # Setup: the EMA and the critic's spectral-norm power-iteration vectors must be checkpointed.
    def run(folder: str, steps: int) -> Generator:
        params = {**STABILISED, "steps": steps, "checkpoint_every": 2}
        return create_generator("dcgan", {**params, "checkpoint_dir": str(tmp_path / folder)})

    run("resumed", 2).fit(digits, seed=3)
    straight = run("straight", 4).fit(digits, seed=3)

    # Run
    resumed = run("resumed", 4).fit(digits, seed=3)

    # Assert
    ours = load_file(tmp_path / "resumed" / "step-00000004" / "state.safetensors")
    theirs = load_file(tmp_path / "straight" / "step-00000004" / "state.safetensors")
    assert any(k.startswith("ema.generator.") for k in ours)
    assert any(k.endswith("_u") for k in ours)  # spectral norm's power-iteration state
    assert ours.keys() == theirs.keys()
    assert all(ours[k].equal(theirs[k]) for k in ours)
    np.testing.assert_array_equal(images_of(resumed), images_of(straight))


def test_dcgan_ema_weights_are_sampled_and_saved(digits, tmp_path):
    # Setup: EMA draws no random numbers, so both runs train the same raw weights.
    plain = create_generator("dcgan", TINY).fit(digits, seed=0)
    averaged = create_generator("dcgan", {**TINY, "ema_decay": 0.5}).fit(digits, seed=0)

    # Run
    averaged.save(tmp_path)

    # Assert
    saved = load_file(tmp_path / WEIGHTS_FILE)
    sampled = averaged._net.state_dict()
    raw = plain._net.state_dict()
    assert saved.keys() == sampled.keys()
    assert all(torch.equal(saved[k], sampled[k]) for k in saved)
    weights = [k for k in saved if k.endswith("weight")]
    assert not all(torch.equal(saved[k], raw[k]) for k in weights)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_projection_discriminator_logit_depends_on_the_label(spectral_norm):
    # Setup
    torch.manual_seed(0)
    critic = DCGANDiscriminatorNet(
        base_channels=8,
        channels=1,
        size=16,
        num_classes=3,
        conditioning="projection",
        spectral_norm=spectral_norm,
    ).eval()
    images = torch.rand(4, 1, 16, 16)

    # Run
    logits = [critic(images, torch.full((4,), label)) for label in range(3)]

    # Assert: the label enters through the projection only, not as an input plane.
    assert critic.label_map is None
    assert critic.features[0].in_channels == 1
    assert not torch.allclose(logits[0], logits[1])
    norms = [m for m in critic.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert (len(norms) == 0) == spectral_norm


def test_dcgan_init_reaches_spectrally_normalised_convs():
    # Setup
    torch.manual_seed(0)
    critic = DCGANDiscriminatorNet(base_channels=32, channels=1, size=8, spectral_norm=True)

    # Run
    critic.apply(init_dcgan_weights)

    # Assert: the stored (pre-normalisation) weights carry the DCGAN N(0, 0.02) init.
    original = critic.features[0].parametrizations.weight.original
    assert original.std().item() == pytest.approx(0.02, rel=0.2)


def test_spectral_norm_discriminator_has_unit_spectral_norm_after_training_steps():
    # Setup
    torch.manual_seed(0)
    critic = DCGANDiscriminatorNet(base_channels=8, channels=1, size=8, spectral_norm=True)

    # Run: power iterations converge over training forwards.
    for _ in range(30):
        critic(torch.rand(4, 1, 8, 8))

    # Assert
    weight = critic.features[0].weight.detach().flatten(1)  # (out, in * k * k)
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.fixture(scope="module")
def vae(digits) -> Generator:
    params = {**TINY, "latent_dim": 4, "conditional": True}
    return create_generator("vae", params).fit(digits, seed=0)


def test_vae_temperature_zero_decodes_the_prior_mean(vae):
    # Setup
    cold = vae.with_run_options(temperature=0.0)

    # Run
    images = images_of(cold, conditions={"label": "7"})

    # Assert
    with torch.inference_mode():
        mean = torch.sigmoid(cold._vae.decode(torch.zeros(1, 4), torch.tensor([7])))
    expected = mean.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(images, np.repeat(expected, 10, axis=0))


def test_vae_temperature_is_a_run_option_that_scales_the_spread(vae, tmp_path):
    # Setup
    warm, cool = (vae.with_run_options(temperature=t) for t in (1.0, 0.3))
    cool.save(tmp_path)

    # Run
    spreads = [images_of(g, conditions={"label": "3"}).std(axis=0).mean() for g in (warm, cool)]
    loaded = load_saved_generator(tmp_path)

    # Assert
    assert cool._vae is vae._vae  # no retraining
    assert spreads[1] < spreads[0]
    assert loaded.config.temperature == 0.3
    np.testing.assert_array_equal(images_of(loaded), images_of(cool))
