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
    x0 = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])  # (B=1, K=2, C=3), padding zero
    xt = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])

    # Run
    at_zero = diffusion._posterior(x0, xt, torch.tensor([0]))
    later = diffusion._posterior(x0, xt, torch.tensor([5]))

    # Assert
    torch.testing.assert_close(at_zero, x0)
    torch.testing.assert_close(later.sum(dim=2), torch.ones(1, 2))
    assert later[0, 1, 2] == 0  # the padding slot of the two-class column stays empty
