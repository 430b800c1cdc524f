"""The shared training loop: checkpoints and exact resume, resume safety checks, mixed precision
on CPU and the device choice."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from safetensors.torch import load_file

from core.errors import ConfigError
from core.images import ImageData
from generators import Generator, available_generators, create_generator
from generators.images.training import learning_rate_factor
from sources.images import load_digits_images

TINY_PARAMS: dict[str, dict] = {
    "dcgan": {"latent_dim": 8, "base_channels": 8},
    "vae": {"latent_dim": 4, "base_channels": 8},
    "ddpm": {"block_out_channels": (16, 32), "sampling_steps": 3},
    "ldm": {
        "vae_block_out_channels": (8, 16),
        "block_out_channels": (16, 32),
        "cross_attention_dim": 8,
        "vae_steps": 2,
        "sampling_steps": 3,
    },
}
COMMON = {"batch_size": 16, "conditional": True, "verbose": False}


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_digits_images().subset(range(200))


def tiny(name: str, **params) -> Generator:
    return create_generator(name, {**TINY_PARAMS[name], **COMMON, **params})


@pytest.mark.parametrize("name", available_generators("image"))
def test_fit_resumed_from_checkpoint_matches_uninterrupted_run(digits, tmp_path, name):
    # Setup: train to step 2 (as if interrupted there), and separately 4 steps in one go; the
    # learning rate warms up and anneals, so a resume must restore the schedule's base rate.
    resumed_dir, straight_dir = tmp_path / "resumed", tmp_path / "straight"
    schedule = {"lr_schedule": "cosine", "warmup_steps": 1, "checkpoint_every": 2}
    tiny(name, steps=2, checkpoint_dir=str(resumed_dir), **schedule).fit(digits, seed=7)
    straight = tiny(name, steps=4, checkpoint_dir=str(straight_dir), **schedule)
    straight.fit(digits, seed=7)

    # Run
    resumed = tiny(name, steps=4, checkpoint_dir=str(resumed_dir), **schedule)
    resumed.fit(digits, seed=7)

    # Assert: same weights, optimizer moments, EMA and RNG state at step 4, and same samples.
    assert resumed.training_info()["resumed_from_step"] == 2
    assert straight.training_info()["resumed_from_step"] is None
    # ldm checkpoints each stage in its own subfolder; the UNet stage is the one resumed here.
    stage = "unet" if name == "ldm" else ""
    ours = load_file(resumed_dir / stage / "step-00000004" / "state.safetensors")
    theirs = load_file(straight_dir / stage / "step-00000004" / "state.safetensors")
    assert ours.keys() == theirs.keys()
    assert any(key.startswith("optimizer.") for key in ours)
    for key in ours:
        assert ours[key].equal(theirs[key]), key
    first, second = resumed.sample(6, seed=1), straight.sample(6, seed=1)
    np.testing.assert_array_equal(np.stack(first["image"]), np.stack(second["image"]))


def test_fit_keeps_only_the_latest_checkpoint(digits, tmp_path):
    # Run
    tiny("vae", steps=5, checkpoint_every=2, checkpoint_dir=str(tmp_path)).fit(digits)

    # Assert: steps 2 and 4 were replaced by the last step, 5.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000005"]
    assert sorted(p.name for p in (tmp_path / "step-00000005").iterdir()) == [
        "state.json",
        "state.safetensors",
    ]


def test_fit_resume_with_different_model_config_names_the_field(digits, tmp_path):
    # Setup
    tiny("vae", steps=2, checkpoint_dir=str(tmp_path)).fit(digits)

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("latent_dim: checkpoint 4, this run 6")):
        tiny("vae", steps=4, latent_dim=6, checkpoint_dir=str(tmp_path)).fit(digits)


def test_fit_resume_with_other_seed_or_data_raises(digits, tmp_path):
    # Setup
    tiny("vae", steps=2, checkpoint_dir=str(tmp_path)).fit(digits, seed=0)
    again = tiny("vae", steps=4, checkpoint_dir=str(tmp_path))

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("seed: checkpoint 0, this run 1")):
        again.fit(digits, seed=1)
    with pytest.raises(ConfigError, match=re.escape("training data fingerprint: checkpoint")):
        again.fit(digits.subset(range(100)), seed=0)


def test_fit_checkpoint_beyond_steps_raises(digits, tmp_path):
    # Setup
    tiny("vae", steps=3, checkpoint_dir=str(tmp_path)).fit(digits)

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("is at step 3, beyond steps=2")):
        tiny("vae", steps=2, checkpoint_dir=str(tmp_path)).fit(digits)


def test_config_checkpoint_every_without_dir_raises():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("checkpoint_every=10 needs checkpoint_dir")):
        create_generator("dcgan", {"checkpoint_every": 10})


@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_fit_bf16_on_cpu_is_a_no_op(digits, name):
    # Run
    plain = tiny(name, steps=2).fit(digits)
    mixed = tiny(name, steps=2, mixed_precision="bf16").fit(digits)

    # Assert
    assert mixed.training_info()["mixed_precision"] == "no"
    np.testing.assert_array_equal(
        np.stack(plain.sample(4)["image"]), np.stack(mixed.sample(4)["image"])
    )


def test_fit_reports_device_and_losses(digits):
    # Run
    info = tiny("dcgan", steps=2, device="cpu").fit(digits).training_info()

    # Assert
    assert info["device"] == "cpu" and info["steps"] == 2
    assert set(info["losses"]) == {"loss_d", "loss_g"}


def test_fit_on_cuda_without_cuda_raises(digits):
    # Setup
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("CUDA is not available on this machine")):
        tiny("vae", steps=1, device="cuda").fit(digits)


@pytest.mark.parametrize("name", available_generators("image"))
def test_learned_params_keep_steps_and_leave_out_run_fields(name):
    # Setup: the fitted-model cache keys on learned_params, so steps must be in it.
    config = tiny(name, steps=7, checkpoint_dir="/tmp/x", verbose=True).config

    # Run
    learned = config.learned_params()

    # Assert
    assert learned["steps"] == 7
    assert not {"checkpoint_dir", "verbose", "device", "sample_batch_size"} & set(learned)


def test_with_run_options_cannot_change_steps_after_fitting(digits):
    # Setup
    fitted = tiny("vae", steps=1).fit(digits)

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("['steps'] cannot change after fitting 'vae'")):
        fitted.with_run_options(steps=50)


@pytest.mark.parametrize(
    ("schedule", "warmup", "expected"),
    [
        # 10 steps: linear warm-up to the base rate, then flat or a cosine anneal towards 0.
        ("constant", 0, [1.0] * 10),
        ("constant", 4, [0.25, 0.5, 0.75] + [1.0] * 7),
        ("cosine", 0, [0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)]),
        (
            "cosine",
            5,
            [0.2, 0.4, 0.6, 0.8, 1.0] + [0.5 * (1 + math.cos(math.pi * k / 5)) for k in range(5)],
        ),
    ],
)
def test_learning_rate_factor_warms_up_then_follows_the_schedule(schedule, warmup, expected):
    # Setup
    config = create_generator(
        "vae", {"steps": 10, "lr_schedule": schedule, "warmup_steps": warmup}
    ).config

    # Run
    factors = [learning_rate_factor(step, config) for step in range(10)]

    # Assert
    assert factors == pytest.approx(expected)
    assert factors[-1] > 0  # the last step still learns


def test_fit_cosine_schedule_anneals_the_optimizer_learning_rate(digits, tmp_path):
    # Setup
    params = {"steps": 4, "lr_schedule": "cosine", "learning_rate": 1e-3, "checkpoint_every": 2}

    # Run
    tiny("vae", checkpoint_dir=str(tmp_path), **params).fit(digits, seed=0)

    # Assert: the checkpointed optimizer ran its last step at the annealed rate, base kept.
    meta = json.loads((tmp_path / "step-00000004" / "state.json").read_text())
    (group,) = meta["optimizers"]["vae"]["param_groups"]
    assert group["base_lr"] == 1e-3
    assert group["lr"] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))
