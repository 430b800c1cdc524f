from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import (
    ConfigError,
    DataError,
    NotFittedError,
    SynthpipeError,
    UnknownGeneratorError,
)
from generators import Generator, create_generator, load_saved_generator, register
from generators.base import GeneratorConfig
from generators.sdv_tabular import GaussianCopulaGenerator


def test_create_generator_unknown_name_lists_available():
    # Run / Assert
    with pytest.raises(UnknownGeneratorError, match="Available generators: argn, argn_relational, copulagan, ctgan"):
        create_generator("stylegan")


def test_register_duplicate_name_raises():
    # Setup
    class Dummy(GaussianCopulaGenerator):
        pass

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("'ctgan' is already registered")):
        register("ctgan")(Dummy)


def test_create_generator_unknown_param_names_it_and_allowed_ones():
    # Run / Assert
    with pytest.raises(ConfigError) as info:
        create_generator("tvae", {"epoch": 3})
    assert "epoch: Extra inputs are not permitted" in str(info.value)
    assert "Allowed parameters:" in str(info.value) and "epochs" in str(info.value)


def test_create_generator_invalid_value_names_param_and_value():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("epochs: Input should be greater than or")):
        create_generator("ctgan", {"epochs": 0})


def test_ctgan_batch_size_must_be_multiple_of_pac():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("batch_size=55 must be a multiple of pac=10")):
        create_generator("ctgan", {"batch_size": 55})


def test_sample_before_fit_raises_not_fitted():
    # Run / Assert
    with pytest.raises(NotFittedError, match="call fit"):
        create_generator("gaussian_copula").sample(5)


def test_save_before_fit_raises_not_fitted(tmp_path):
    # Run / Assert
    with pytest.raises(NotFittedError):
        create_generator("gaussian_copula").save(tmp_path)


@pytest.fixture(scope="module")
def copula(wine) -> Generator:
    return create_generator("gaussian_copula").fit(wine)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_sample_non_positive_or_non_integer_n_raises(copula, n):
    # Run / Assert
    with pytest.raises(ConfigError, match="positive integer"):
        copula.sample(n)


def test_sample_unknown_condition_column_names_it(copula):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("Condition column(s) ['colour']")):
        copula.sample(5, conditions={"colour": "red"})


def test_sample_conditions_frame_with_wrong_length_raises(copula):
    # Run / Assert
    with pytest.raises(ConfigError, match="one row per sample"):
        copula.sample(5, conditions=pd.DataFrame({"target": ["class_0"] * 4}))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": [1.0]}), "has 1 row(s)"),
        (pd.DataFrame(index=range(5)), "has no columns"),
        (pd.DataFrame({"a": [1, 2, 3], "b": [np.nan] * 3}), "Column(s) ['b'] are entirely missing"),
        ([[1, 2], [3, 4]], "fits a pandas DataFrame; got list"),
    ],
)
def test_fit_bad_training_data_raises_data_error(frame, message):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        create_generator("gaussian_copula").fit(frame)


def test_load_from_folder_without_saved_generator_raises(tmp_path):
    # Run / Assert
    with pytest.raises(DataError, match="is not a saved generator"):
        load_saved_generator(tmp_path)


def test_load_through_wrong_family_raises(copula, tmp_path):
    # Setup
    copula.save(tmp_path)
    tvae_class = type(create_generator("tvae"))

    # Run / Assert
    with pytest.raises(ConfigError, match="holds a 'gaussian_copula' generator, not a 'tvae'"):
        tvae_class.load(tmp_path)


def test_load_through_the_base_class_names_the_registry_loader(copula, tmp_path):
    # Setup: the base class cannot pick a family (the registry does; base never imports it)
    copula.save(tmp_path)

    # Run / Assert
    with pytest.raises(ConfigError, match=r"Generator is no family.*load_saved_generator\(dir\)"):
        Generator.load(tmp_path)


def test_every_error_shares_the_root_class():
    # Assert
    for error in (ConfigError, DataError, NotFittedError, UnknownGeneratorError):
        assert issubclass(error, SynthpipeError)


def test_generator_config_is_frozen():
    # Setup
    config = create_generator("tvae", {"epochs": 5}).config

    # Run / Assert
    assert isinstance(config, GeneratorConfig)
    with pytest.raises(ValueError, match="frozen"):
        config.epochs = 6
