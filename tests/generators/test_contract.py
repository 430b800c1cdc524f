"""One contract over the whole registry: every generator is built through the registry, fitted on
a small real table, sampled, saved, loaded and sampled again, with the same checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from generators import (
    Generator,
    available_generators,
    create_generator,
    get_generator_class,
    load_saved_generator,
)

# Tiny settings per registered tabular generator so the contract runs in seconds. A newly
# registered generator fails `test_every_tabular_generator_has_tiny_params` until it is added.
TINY_PARAMS: dict[str, dict] = {
    "gaussian_copula": {},
    "ctgan": {"epochs": 2, "batch_size": 40, "verbose": False},
    "tvae": {"epochs": 2, "batch_size": 40, "verbose": False},
    "copulagan": {"epochs": 2, "batch_size": 40, "verbose": False},
    "argn": {
        "conditional_columns": ["target"],
        "max_epochs": 2,
        "width": 16,
        "depth": 1,
        "heads": 2,
        "cpu_threads": 1,
        "verbose": False,
    },
    "tabddpm": {
        "conditional_columns": ["target"],
        "max_epochs": 2,
        "steps": 10,
        "hidden": [32],
        "cpu_threads": 1,
        "verbose": False,
    },
}
TABULAR = available_generators("table")


def test_every_tabular_generator_has_tiny_params():
    # Assert
    assert sorted(TINY_PARAMS) == TABULAR


@pytest.fixture(scope="module", params=TABULAR)
def fitted(request, wine) -> tuple[str, Generator]:
    name = request.param
    return name, create_generator(name, TINY_PARAMS[name]).fit(wine, seed=1)


def test_sample_matches_training_columns_and_count(fitted, wine):
    # Setup
    _, generator = fitted

    # Run
    frame = generator.sample(37, seed=0)

    # Assert
    assert list(frame.columns) == list(wine.columns)
    assert len(frame) == 37
    assert set(frame["target"]) <= set(wine["target"])


def test_sample_same_seed_repeats_and_other_seed_differs(fitted):
    # Setup
    _, generator = fitted

    # Run
    first, again, other = (generator.sample(25, seed=s) for s in (3, 3, 4))

    # Assert
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_fit_same_seed_gives_identical_samples(fitted, wine):
    # Setup
    name, generator = fitted

    # Run
    refit = create_generator(name, TINY_PARAMS[name]).fit(wine, seed=1)

    # Assert
    pd.testing.assert_frame_equal(refit.sample(20, seed=5), generator.sample(20, seed=5))


def test_save_load_round_trip_samples_identically(fitted, tmp_path):
    # Setup
    name, generator = fitted
    generator.save(tmp_path / "model")

    # Run
    through_registry = load_saved_generator(tmp_path / "model")
    through_class = get_generator_class(name).load(tmp_path / "model")

    # Assert
    assert type(through_registry) is type(generator)
    assert through_registry.config == generator.config
    expected = generator.sample(30, seed=9)
    pd.testing.assert_frame_equal(through_registry.sample(30, seed=9), expected)
    pd.testing.assert_frame_equal(through_class.sample(30, seed=9), expected)


def test_sample_with_mapping_conditions_fixes_the_column(fitted):
    # Setup
    _, generator = fitted

    # Run
    frame = generator.sample(12, seed=0, conditions={"target": "class_2"})

    # Assert
    assert len(frame) == 12
    assert (frame["target"] == "class_2").all()


def test_sample_with_frame_conditions_follows_each_row(fitted):
    # Setup
    _, generator = fitted
    wanted = pd.DataFrame({"target": ["class_0", "class_1", "class_2"] * 4})

    # Run
    frame = generator.sample(12, seed=0, conditions=wanted)

    # Assert
    assert sorted(frame["target"]) == sorted(wanted["target"])


def keyed(wine: pd.DataFrame) -> pd.DataFrame:
    """`wine` with a unique string key (`cust-000123`, shuffled) and an integer key in front."""
    order = np.random.default_rng(0).permutation(len(wine))
    ids = pd.DataFrame({"customer": [f"cust-{i:06d}" for i in order], "row_id": order + 500})
    return pd.concat([ids, wine], axis=1)


@pytest.fixture(scope="module", params=TABULAR)
def fitted_keyed(request, wine) -> tuple[Generator, pd.DataFrame]:
    real = keyed(wine)
    return create_generator(request.param, TINY_PARAMS[request.param]).fit(real, seed=1), real


def test_keys_are_regenerated_unique_across_shards_and_never_copied(fitted_keyed):
    # Setup
    generator, real = fitted_keyed

    # Run: two shards drawn apart, the second starting at row 40 of the output
    shards = [generator.sample(40, seed=0), generator.sample(40, seed=1, first_row=40)]
    frame = pd.concat(shards, ignore_index=True)

    # Assert
    assert list(frame.columns) == list(real.columns)
    assert frame["customer"].is_unique and frame["row_id"].is_unique
    assert frame["customer"].str.fullmatch(r"cust-\d{6}").all()
    assert not set(frame["customer"]) & set(real["customer"])
    assert not set(frame["row_id"]) & set(real["row_id"])
    assert frame["row_id"].dtype == real["row_id"].dtype
    assert set(frame["target"]) <= set(real["target"])


def test_keys_survive_save_and_load(fitted_keyed, tmp_path):
    # Setup
    generator, _ = fitted_keyed
    generator.save(tmp_path / "model")

    # Run
    loaded = load_saved_generator(tmp_path / "model")

    # Assert
    assert loaded.keys == generator.keys
    pd.testing.assert_frame_equal(
        loaded.sample(10, seed=2, first_row=7), generator.sample(10, seed=2, first_row=7)
    )


def test_a_declared_key_is_regenerated_and_cannot_be_conditioned(wine):
    # Setup: an integer column whose name does not read as a key, declared one
    real = wine.assign(account=np.arange(len(wine)) * 7)
    generator = create_generator("gaussian_copula", {"column_sdtypes": {"account": "id"}})
    generator.fit(real, seed=0)

    # Run
    frame = generator.sample(20, seed=0)

    # Assert
    assert real["account"].max() == 1239
    assert frame["account"].tolist() == list(range(1240, 1260))  # a fresh run after the real keys
    with pytest.raises(ConfigError, match=r"'account'.*key column"):
        generator.sample(5, conditions={"account": 7})


# Relational generators: fitted on SDMetrics' demo users -> sessions (10 rows each).
RELATIONAL_TINY_PARAMS: dict[str, dict] = {
    "hma": {},
    "argn_relational": {
        "argn": {"max_epochs": 2, "width": 16, "depth": 1, "heads": 2, "cpu_threads": 1}
        | {"verbose": False}
    },
}
RELATIONAL = available_generators("relational")


def test_every_relational_generator_has_tiny_params():
    # Assert
    assert sorted(RELATIONAL_TINY_PARAMS) == RELATIONAL


@pytest.fixture(scope="module")
def users_sessions():
    from modalities.relational import keep_tables
    from sources.relational import load_builtin_relational

    return keep_tables(load_builtin_relational("sdmetrics_demo"), ["users", "sessions"])


@pytest.fixture(scope="module", params=RELATIONAL)
def fitted_relational(request, users_sessions):
    name = request.param
    return name, create_generator(name, RELATIONAL_TINY_PARAMS[name]).fit(users_sessions, seed=1)


def assert_same_tables(first, second):
    assert list(first.tables) == list(second.tables)
    for name in first.tables:
        pd.testing.assert_frame_equal(first.tables[name], second.tables[name])


def test_relational_sample_keeps_tables_columns_and_every_key(fitted_relational, users_sessions):
    # Setup
    _, generator = fitted_relational

    # Run
    sample = generator.sample(20, seed=0)

    # Assert: columns as trained; RelationalData refuses an orphan foreign key or a bad key
    for name, frame in users_sessions.tables.items():
        assert list(sample.tables[name].columns) == list(frame.columns)
    sessions, users = sample.tables["sessions"], sample.tables["users"]
    assert sessions["user_id"].isin(users["user_id"]).all()
    assert users["user_id"].is_unique


def test_relational_same_seed_repeats_other_seed_differs(fitted_relational):
    # Setup
    _, generator = fitted_relational

    # Run
    first, again, other = (generator.sample(20, seed=s) for s in (3, 3, 4))

    # Assert
    assert_same_tables(first, again)
    assert first.fingerprint() != other.fingerprint()


def test_relational_save_load_round_trip_samples_identically(fitted_relational, tmp_path):
    # Setup
    _, generator = fitted_relational
    generator.save(tmp_path / "model")

    # Run
    loaded = load_saved_generator(tmp_path / "model")

    # Assert
    assert type(loaded) is type(generator) and loaded.relationships == generator.relationships
    assert_same_tables(loaded.sample(20, seed=9), generator.sample(20, seed=9))


def test_relational_sample_refuses_a_second_shard(fitted_relational):
    # Setup
    _, generator = fitted_relational

    # Run / Assert
    with pytest.raises(ConfigError, match="one shard"):
        generator.sample(10, seed=0, first_row=10)
