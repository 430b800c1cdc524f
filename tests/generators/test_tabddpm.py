"""`tabddpm` beyond the registry contract: mixed types through diffusion, class-conditional
sampling, saved files, errors, and the multinomial posterior."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from generators import Generator, create_generator, load_saved_generator

TINY = {"steps": 20, "hidden": [32, 32], "cpu_threads": 1, "verbose": False}


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 300
    label = rng.choice(["low", "high"], rows, p=[0.7, 0.3])
    amount = np.where(rng.random(rows) < 0.6, 0.0, np.round(rng.exponential(30, rows), 2))
    return pd.DataFrame(
        {
            "label": label,
            "amount": amount + (label == "high") * 50,
            "visits": rng.poisson(3, rows),
            "score": np.where(rng.random(rows) < 0.25, np.nan, np.round(rng.normal(size=rows), 3)),
            "day": pd.Timestamp("2022-03-01") + pd.to_timedelta(rng.integers(0, 90, rows), "D"),
        }
    )


@pytest.fixture(scope="module")
def fitted(mixed) -> Generator:
    params = {**TINY, "conditional_columns": ["label"], "max_epochs": 6}
    return create_generator("tabddpm", params).fit(mixed, seed=0)


def test_sample_keeps_dtypes_zeros_integers_and_missing_values(fitted, mixed):
    # Run
    frame = fitted.sample(300, seed=1)

    # Assert
    assert dict(frame.dtypes) == dict(mixed.dtypes)
    assert (frame["amount"] == frame["amount"].round(2)).all()
    assert frame["amount"].min() >= 0 and frame["amount"].max() <= mixed["amount"].max()
    assert frame["score"].isna().any() and frame["score"].notna().any()


def test_sample_without_conditions_draws_condition_values_by_frequency(fitted, mixed):
    # Run
    frame = fitted.sample(1000, seed=2)

    # Assert
    expected = (mixed["label"] == "low").mean()
    assert (frame["label"] == "low").mean() == pytest.approx(expected, abs=0.05)


def test_sample_with_frame_conditions_returns_exactly_those_rows(fitted):
    # Setup
    wanted = pd.DataFrame({"label": ["high"] * 7 + ["low"] * 3})

    # Run
    frame = fitted.sample(10, seed=0, conditions=wanted)

    # Assert
    assert frame["label"].tolist() == wanted["label"].tolist()


def test_sample_conditions_on_other_columns_raise_config_error_naming_the_fix(fitted):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("Refit with conditional_columns=['visits'")):
        fitted.sample(5, conditions={"visits": 2})


def test_save_load_round_trip_keeps_condition_frequencies(fitted, tmp_path):
    # Setup
    fitted.save(tmp_path)

    # Run
    loaded = load_saved_generator(tmp_path)

    # Assert
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "generator.json",
        "model.json",
        "model.safetensors",
    ]
    pd.testing.assert_frame_equal(loaded.sample(50, seed=3), fitted.sample(50, seed=3))


def test_fit_without_categorical_or_numeric_columns_works():
    # Setup
    numbers = pd.DataFrame({"x": np.linspace(0, 1, 40), "y": np.linspace(1, 2, 40) ** 2})
    words = pd.DataFrame({"a": ["p", "q"] * 20, "b": ["r", "s", "t", "u"] * 10})

    # Run
    from_numbers = create_generator("tabddpm", {**TINY, "max_epochs": 1}).fit(numbers).sample(5)
    from_words = create_generator("tabddpm", {**TINY, "max_epochs": 1}).fit(words).sample(5)

    # Assert
    assert from_numbers.shape == (5, 2) and from_words.shape == (5, 2)


def test_multinomial_posterior_at_t0_is_the_clean_class():
    # Setup
    import torch

    from generators.tabddpm_diffusion import MixedDiffusion

    diffusion = MixedDiffusion(
        continuous=0,
        cardinalities=[3, 2],
        condition_cardinalities=[],
        hidden=(8,),
        dropout=0.0,
        steps=10,
    )
    x0 = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]])  # (B=1, S=3+2): classes 1 and 0
    xt = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0]])

    # Run
    at_zero = diffusion._posterior(x0, xt, torch.tensor([0]))
    later = diffusion._posterior(x0, xt, torch.tensor([5]))

    # Assert
    torch.testing.assert_close(at_zero, x0)
    torch.testing.assert_close(diffusion._column_sums(later), torch.ones(1, 2))
    assert (later > 0).all()  # every class of each sub-column is possible at t = 5


def test_draw_and_softmax_stay_within_each_sub_column_by_its_probabilities():
    # Setup: sub-columns of 3, 1 and 4 classes
    import torch

    from generators.tabddpm_diffusion import MixedDiffusion

    diffusion = MixedDiffusion(
        continuous=0,
        cardinalities=[3, 1, 4],
        condition_cardinalities=[],
        hidden=(8,),
        dropout=0.0,
        steps=10,
    )
    logits = torch.tensor([[0.0, 2.0, -1.0, 5.0, 1.0, 1.0, -50.0, 3.0]]).expand(20_000, -1)

    # Run
    probs = diffusion._predicted_x0(logits)
    codes = diffusion._draw(probs, torch.Generator().manual_seed(0))

    # Assert
    torch.testing.assert_close(diffusion._column_sums(probs[:1]), torch.ones(1, 3))
    torch.testing.assert_close(probs[0, :3], torch.softmax(logits[0, :3], dim=0))
    assert codes.shape == (20_000, 3) and (codes[:, 1] == 0).all()
    for column, (start, size) in enumerate([(0, 3), (4, 4)]):
        drawn = torch.bincount(codes[:, 2 * column], minlength=size) / 20_000
        torch.testing.assert_close(drawn, probs[0, start : start + size], atol=0.015, rtol=0)


@pytest.fixture(scope="module")
def levels() -> pd.DataFrame:
    """2,000 rows of a numeric column with 60 irregular levels (more than the 32 quantile bins,
    few per row: discrete) beside a continuous one and a category."""
    rng = np.random.default_rng(0)
    support = np.round(rng.uniform(0, 10, 60), 3)
    return pd.DataFrame(
        {
            "level": rng.choice(support, 2000),
            "x": rng.normal(size=2000),
            "group": rng.choice(["a", "b"], 2000),
        }
    )


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sample_discrete_column_stays_on_its_observed_values(levels, sampler):
    # Setup
    params = {**TINY, "max_epochs": 2, "sampler": sampler}
    continuous = {**params, "discrete_share": None}

    # Run
    snapped = create_generator("tabddpm", params).fit(levels, seed=0).sample(2000, seed=1)
    spread = create_generator("tabddpm", continuous).fit(levels, seed=0).sample(2000, seed=1)

    # Assert: only observed levels; treated as continuous, the same model makes up new ones
    observed = set(levels["level"])
    assert set(snapped["level"]) <= observed
    assert not set(spread["level"]) <= observed
    assert snapped["x"].nunique() > 1000  # the continuous column is left continuous


def test_discrete_encoding_round_trips_and_decodes_positions_by_observed_frequency(levels):
    # Setup
    from generators.tabular_encoding import EncodingSettings, NumericEncoding

    encoding = NumericEncoding.fit(levels["level"], EncodingSettings(discrete_share=0.05))
    rng = np.random.default_rng(0)

    # Run
    positions, codes = encoding.encode_mixed(levels["level"], rng)
    round_trip = encoding.decode_mixed(positions, codes, rng)
    uniform = encoding.decode_mixed(rng.random((20_000, 1)), np.zeros((20_000, 0)), rng)

    # Assert
    assert encoding.support is not None and len(encoding.support) == levels["level"].nunique()
    pd.testing.assert_series_equal(round_trip, levels["level"])
    expected = levels["level"].value_counts(normalize=True)
    drawn = uniform.value_counts(normalize=True).reindex(expected.index, fill_value=0)
    assert np.abs(drawn - expected).max() < 0.01


def test_small_table_trains_without_a_validation_split(fitted, mixed):
    # Assert: 300 rows would hold out 30, below min_validation_rows
    summary = fitted.training_summary
    assert summary["validation_rows"] == 0 and summary["train_rows"] == len(mixed)


def test_ddim_sampler_with_few_steps_gives_rows_repeatable_by_seed(fitted, mixed):
    # Setup
    ddim = fitted.with_run_options(sampler="ddim", sampling_steps=3)
    ddpm = fitted.with_run_options(sampler="ddpm")

    # Run
    first, again, other = (ddim.sample(40, seed=s) for s in (5, 5, 6))
    ancestral = ddpm.sample(40, seed=5)

    # Assert
    assert first.shape == (40, mixed.shape[1]) and list(first.columns) == list(mixed.columns)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other) and not first.equals(ancestral)
    assert (ddim.sampling_steps, ddpm.sampling_steps) == (3, TINY["steps"])


def test_sampling_timesteps_are_evenly_spaced_from_the_last_to_zero():
    # Setup
    from generators.tabddpm_diffusion import sampling_timesteps

    # Run
    few, capped = sampling_timesteps(100, 5), sampling_timesteps(10, 50)

    # Assert
    assert few == [99, 74, 50, 25, 0]
    assert capped == list(range(9, -1, -1))


def test_gaussian_jump_with_eta_one_over_one_step_is_the_ddpm_posterior_draw():
    # Setup
    import torch

    from generators.tabddpm_diffusion import MixedDiffusion

    diffusion = MixedDiffusion(
        continuous=3,
        cardinalities=[],
        condition_cardinalities=[],
        hidden=(8,),
        dropout=0.0,
        steps=50,
    )
    x, eps, t = torch.randn(4, 3), 0.3 * torch.randn(4, 3), 20
    alpha, alpha_bar = diffusion.alphas[t], diffusion.alpha_bars[t]
    previous = diffusion.alpha_bars[t - 1]
    x0 = ((x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()).clamp(-5, 5)
    mean = (previous.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * (1 - previous) * x) / (
        1 - alpha_bar
    )
    std = ((1 - alpha) * (1 - previous) / (1 - alpha_bar)).sqrt()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))

    # Run
    jumped = diffusion._gaussian_jump(x, eps, t, previous, 1.0, torch.Generator().manual_seed(0))
    last = diffusion._gaussian_jump(x, eps, 0, torch.ones(()), 1.0, torch.Generator())

    # Assert
    torch.testing.assert_close(jumped, mean + std * noise)
    expected_x0 = (x - (1 - diffusion.alpha_bars[0]).sqrt() * eps) / diffusion.alpha_bars[0].sqrt()
    torch.testing.assert_close(last, expected_x0.clamp(-5, 5))
