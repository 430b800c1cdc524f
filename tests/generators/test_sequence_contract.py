"""Every registered sequence generator through fit (tiny) / sample / save / load, and the bad
sequential tables that must fail before fitting."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from generators import available_generators, create_generator, load_saved_generator

TINY_PARAMS: dict[str, dict] = {"par": {"epochs": 2}}
SEQUENCE = available_generators("sequence")
SPEC = {"sequence_key": "unit", "sequence_index": "t", "context_columns": ["group"]}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """12 units of 4-7 steps: an AR(1) `level`, a context `group` per unit."""
    rng = np.random.default_rng(0)
    frames = []
    for unit in range(12):
        steps = int(rng.integers(4, 8))
        level = np.cumsum(rng.normal(size=steps)) + 10 * (unit % 2)
        frames.append(
            pd.DataFrame(
                {"unit": f"u{unit}", "t": np.arange(steps), "level": level, "group": "ab"[unit % 2]}
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_every_sequence_generator_has_tiny_params():
    # Assert
    assert sorted(TINY_PARAMS) == SEQUENCE


@pytest.fixture(scope="module", params=SEQUENCE)
def fitted(request, panel):
    name = request.param
    return create_generator(name, {**SPEC, **TINY_PARAMS[name]}).fit(panel, seed=1)


def test_sample_draws_n_whole_sequences_with_keys_from_first_row(fitted, panel):
    # Run
    frame = fitted.sample(5, seed=0, first_row=10)

    # Assert
    assert list(frame.columns) == list(panel.columns)
    assert sorted(frame["unit"].unique(), key=int) == [str(k) for k in range(10, 15)]
    per_unit = frame.groupby("unit")
    assert (per_unit["group"].nunique() == 1).all()  # context: one value per sequence
    assert per_unit["t"].apply(lambda t: t.is_monotonic_increasing).all()


def test_same_seed_repeats_other_seed_differs_and_survives_save_load(fitted, tmp_path):
    # Run
    first, again, other = (fitted.sample(4, seed=s) for s in (3, 3, 4))
    loaded = load_saved_generator(fitted.save(tmp_path / "model"))

    # Assert
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    pd.testing.assert_frame_equal(loaded.sample(4, seed=3), first)


def test_conditions_are_refused(fitted):
    # Run / Assert
    with pytest.raises(ConfigError, match="takes no conditions"):
        fitted.sample(2, conditions={"group": "a"})


@pytest.mark.parametrize("name", SEQUENCE)
def test_order_repeated_within_an_entity_fails_before_fitting(name, panel):
    # Setup
    bad = pd.concat([panel, panel.iloc[[0]]], ignore_index=True)

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("order column 't' repeats within an entity")):
        create_generator(name, {**SPEC, **TINY_PARAMS[name]}).fit(bad)


@pytest.mark.parametrize("name", SEQUENCE)
def test_a_missing_sequence_key_column_fails_naming_it(name, panel):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("has no column(s) ['unit']")):
        create_generator(name, {**SPEC, **TINY_PARAMS[name]}).fit(panel.drop(columns="unit"))


def test_a_context_column_changing_within_an_entity_fails(panel):
    # Setup
    bad = panel.assign(group=np.where(panel.index % 2, "a", "b"))

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("context column(s) ['group'] change")):
        create_generator("par", {**SPEC, **TINY_PARAMS["par"]}).fit(bad)
