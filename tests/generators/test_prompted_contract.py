"""One contract over every registered text-to-image generator (modality `prompted_image`): built
through the registry, fitted tiny on 8x8 digits captioned per label, sampled for prompts, saved,
loaded and sampled again."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.images import ImageData
from generators import (
    Generator,
    available_generators,
    create_generator,
    get_generator_class,
    load_saved_generator,
)
from sources.images import load_digits_images

# Tiny settings per registered text-to-image generator so the contract runs in seconds. A newly
# registered one fails `test_every_prompted_generator_has_tiny_params` until it is added.
TINY_PARAMS: dict[str, dict] = {
    "t2i": {
        "vae_block_out_channels": (8, 16),
        "block_out_channels": (16, 32),
        "cross_attention_dim": 8,
        "text_heads": 2,
        "text_layers": 1,
        "vae_steps": 3,
        "sampling_steps": 3,
    },
    "pretrained": {
        "num_inference_steps": 2,
        "resize_to_source": True,
        "lora": {"rank": 2, "steps": 2, "learning_rate": 1e-3},
    },
}
# Families that load a base pipeline folder get it from a fixture (tests/generators/conftest.py).
PATH_FIXTURES = {"pretrained": "tiny_pipeline"}
COMMON = {"steps": 3, "batch_size": 16, "verbose": False}
PROMPTED = available_generators("prompted_image")
TEMPLATE = "a handwritten digit {}"


@pytest.fixture(scope="module")
def tiny(request) -> Callable[[str], Generator]:
    """`tiny(name)`: the family built through the registry with its tiny settings."""

    def build(name: str) -> Generator:
        params = {**TINY_PARAMS[name], **COMMON}
        if name in PATH_FIXTURES:
            params["path"] = str(request.getfixturevalue(PATH_FIXTURES[name]))
        return create_generator(name, params)

    return build


def captioned(data: ImageData) -> ImageData:
    return data.with_prompts([TEMPLATE.format(data.label_names[i]) for i in data.labels])


def conditions(labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"prompt": [TEMPLATE.format(label) for label in labels], "label": labels})


def images(frame: pd.DataFrame) -> np.ndarray:
    return np.stack(frame["image"])


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return captioned(load_digits_images())


@pytest.fixture(scope="module", params=PROMPTED)
def fitted(request, tiny, digits) -> Generator:
    return tiny(request.param).fit(digits, seed=1)


def test_every_prompted_generator_has_tiny_params():
    # Assert
    assert sorted(TINY_PARAMS) == PROMPTED
    assert all(get_generator_class(name).modality == "prompted_image" for name in PROMPTED)


def test_sample_returns_one_image_per_prompt_with_prompt_and_guidance(fitted):
    # Setup
    wanted = conditions(["3", "7", "7", "0", "1"])

    # Run
    frame = fitted.sample(5, seed=0, conditions=wanted)

    # Assert
    assert list(frame.columns) == ["image", "label", "prompt", "guidance_scale"]
    assert all(img.shape == (8, 8, 1) and img.dtype == np.uint8 for img in frame["image"])
    assert list(frame["prompt"]) == list(wanted["prompt"])
    assert list(frame["label"]) == ["3", "7", "7", "0", "1"]
    assert set(frame["guidance_scale"]) == {fitted.config.guidance_scale}
    assert images(frame).std() > 0


def test_sample_same_seed_repeats_and_other_seed_differs(fitted):
    # Setup
    wanted = conditions(["2", "5", "8"])

    # Run
    first, again, other = (fitted.sample(3, seed=s, conditions=wanted) for s in (3, 3, 4))

    # Assert
    np.testing.assert_array_equal(images(first), images(again))
    assert not np.array_equal(images(first), images(other))


def test_fit_same_seed_gives_identical_samples(fitted, tiny, digits):
    # Setup
    wanted = conditions(["4", "9"])

    # Run
    refit = tiny(fitted.name).fit(digits, seed=1)

    # Assert
    np.testing.assert_array_equal(
        images(refit.sample(2, seed=5, conditions=wanted)),
        images(fitted.sample(2, seed=5, conditions=wanted)),
    )


def test_save_load_round_trip_samples_identically(fitted, tmp_path):
    # Setup
    fitted.save(tmp_path / "model")
    wanted = conditions(["1", "6", "6", "3"])

    # Run
    through_registry = load_saved_generator(tmp_path / "model")
    through_class = get_generator_class(fitted.name).load(tmp_path / "model")

    # Assert
    assert type(through_registry) is type(fitted)
    assert through_registry.config == fitted.config
    assert through_registry.spec == fitted.spec
    expected = images(fitted.sample(4, seed=9, conditions=wanted))
    np.testing.assert_array_equal(
        images(through_registry.sample(4, seed=9, conditions=wanted)), expected
    )
    np.testing.assert_array_equal(
        images(through_class.sample(4, seed=9, conditions=wanted)), expected
    )


def test_save_writes_weights_as_safetensors_and_json_only(fitted, tmp_path):
    # Run
    fitted.save(tmp_path)

    # Assert
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    # A tokenizer's vocabulary and merges are text files.
    assert {p.suffix for p in files} <= {".safetensors", ".json", ".txt"}


def test_sample_without_prompts_is_a_config_error_naming_them(fitted):
    # Run / Assert
    with pytest.raises(ConfigError, match="prompt"):
        fitted.sample(2, seed=0, conditions=pd.DataFrame({"label": ["1", "2"]}))
