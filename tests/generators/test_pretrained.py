"""`pretrained`: a tiny random Stable Diffusion folder (built from config, never a hub) loads from a
path or an fsspec URL, samples for prompts with seeded determinism, LoRA-tunes on real images and
round-trips through save/load; every broken folder is a typed error naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("peft")

from core.errors import ConfigError, DataError, IntegrityError
from core.images import ImageData
from generators import create_generator, get_generator_class, load_saved_generator
from generators.images.pretrained import LORA_DIR, LORA_WEIGHTS
from sources.images import load_digits_images

FAST = {"num_inference_steps": 2, "verbose": False}
LORA = {"lora": {"rank": 2, "steps": 3, "learning_rate": 1e-2}, "batch_size": 8}
LABELS = ["3", "7", "0"]


def conditions(labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"prompt": [f"a photo of a {label}" for label in labels], "label": labels})


def images(frame: pd.DataFrame) -> np.ndarray:
    return np.stack(frame["image"])


def pretrained(path: str | Path, **params):
    return create_generator("pretrained", {"path": str(path), **FAST, **params})


def copied(tiny_pipeline: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_pipeline, tmp_path / "copy"))


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_digits_images().subset(range(40))


@pytest.fixture(scope="module")
def plain(tiny_pipeline, digits):
    return pretrained(tiny_pipeline).fit(digits, seed=0)


@pytest.fixture(scope="module")
def tuned(tiny_pipeline, digits):
    return pretrained(tiny_pipeline, **LORA).fit(digits, seed=0)


def test_samples_the_pipeline_native_size_for_each_prompt(plain):
    # Run
    frame = plain.sample(3, seed=0, conditions=conditions(LABELS))

    # Assert
    assert list(frame.columns) == ["image", "label", "prompt", "guidance_scale"]
    assert images(frame).shape == (3, 16, 16, 3)
    assert images(frame).dtype == np.uint8
    assert images(frame).std() > 0
    assert list(frame["prompt"]) == [f"a photo of a {label}" for label in LABELS]
    assert (plain.spec.size, plain.spec.channels) == (16, 3)
    assert plain.spec.label_names == [str(d) for d in range(10)]


def test_same_seed_repeats_and_another_seed_differs(plain):
    # Run
    first, again, other = (
        plain.sample(3, seed=s, conditions=conditions(LABELS)) for s in (4, 4, 5)
    )

    # Assert
    np.testing.assert_array_equal(images(first), images(again))
    assert not np.array_equal(images(first), images(other))


def test_prompts_steer_the_images(plain):
    # Run
    cats = plain.sample(2, seed=0, conditions={"prompt": "a cat"})
    dogs = plain.sample(2, seed=0, conditions={"prompt": "a dog"})

    # Assert
    assert not np.array_equal(images(cats), images(dogs))


def test_lineage_records_the_base_folder_by_sha256(plain, tiny_pipeline):
    # Setup
    import hashlib

    index = hashlib.sha256((tiny_pipeline / "model_index.json").read_bytes()).hexdigest()

    # Run
    info = plain.sampling_info()

    # Assert
    assert info["base"]["path"] == str(tiny_pipeline)
    assert info["base"]["model_index_sha256"] == index
    assert info["base"]["pipeline_class"] == "StableDiffusionPipeline"
    assert len(info["base"]["sha256"]) == 64
    assert info["dtype"] == "fp32"


def test_cpu_runs_fp32_whatever_dtype_asks(plain):
    # Setup
    wanted = conditions(LABELS)

    # Run
    half = plain.with_run_options(dtype="bf16")

    # Assert
    assert half.sampling_info()["dtype"] == "fp32"
    np.testing.assert_array_equal(
        images(half.sample(3, seed=0, conditions=wanted)),
        images(plain.sample(3, seed=0, conditions=wanted)),
    )


def test_a_negative_prompt_changes_the_images(plain):
    # Setup
    wanted = conditions(LABELS)

    # Run
    guided = plain.with_run_options(negative_prompt="a blurry photo")

    # Assert
    assert not np.array_equal(
        images(guided.sample(3, seed=0, conditions=wanted)),
        images(plain.sample(3, seed=0, conditions=wanted)),
    )


def test_attention_slicing_draws_the_same_images(plain):
    # Setup
    wanted = conditions(LABELS)

    # Run
    sliced = plain.with_run_options(attention_slicing=True)

    # Assert: slicing reorders the attention arithmetic, so allow one level of rounding.
    difference = images(sliced.sample(3, seed=0, conditions=wanted)).astype(int) - images(
        plain.sample(3, seed=0, conditions=wanted)
    )
    assert np.abs(difference).max() <= 1


@pytest.mark.gpu
def test_cuda_samples_in_bf16(tiny_pipeline, digits):
    # Setup
    generator = pretrained(tiny_pipeline, device="cuda", dtype="bf16").fit(digits, seed=0)

    # Run
    frame = generator.sample(4, seed=0, conditions=conditions(["1", "2", "3", "4"]))

    # Assert
    assert generator.sampling_info()["dtype"] == "bf16"
    assert images(frame).shape == (4, 16, 16, 3)
    assert images(frame).std() > 0


@pytest.mark.parametrize("scheme", ["memory://", "file://"])
def test_an_fsspec_url_samples_as_the_local_folder(plain, tiny_pipeline, digits, tmp_path, scheme):
    # Setup
    import fsspec

    if scheme == "memory://":
        fs = fsspec.filesystem("memory")
        fs.put(str(tiny_pipeline), f"/models/{tmp_path.name}", recursive=True)
        url = f"memory://models/{tmp_path.name}"
    else:
        url = f"file://{tiny_pipeline}"
    wanted = conditions(LABELS)

    # Run
    generator = pretrained(url, cache_dir=str(tmp_path / "cache")).fit(digits, seed=0)

    # Assert
    np.testing.assert_array_equal(
        images(generator.sample(3, seed=2, conditions=wanted)),
        images(plain.sample(3, seed=2, conditions=wanted)),
    )
    copies = list((tmp_path / "cache").glob("*/model_index.json"))
    assert len(copies) == (1 if scheme == "memory://" else 0)  # a local URL is read in place


def test_resize_to_source_returns_the_real_images_size_and_channels(tiny_pipeline, digits):
    # Setup
    generator = pretrained(tiny_pipeline, resize_to_source=True).fit(digits, seed=0)

    # Run
    frame = generator.sample(2, seed=0, conditions=conditions(["1", "2"]))

    # Assert
    assert images(frame).shape == (2, 8, 8, 1)
    assert (generator.spec.size, generator.spec.channels) == (8, 1)


def test_lora_fit_changes_the_outputs(plain, tuned):
    # Setup
    wanted = conditions(LABELS)

    # Run
    base, adapted = (g.sample(3, seed=1, conditions=wanted) for g in (plain, tuned))

    # Assert
    assert not np.array_equal(images(base), images(adapted))
    assert tuned.training_info()["steps"] == 3
    assert plain.training_info()["steps"] == 0  # without lora, fit trains nothing


def test_lora_fit_with_the_same_seed_repeats(tuned, tiny_pipeline, digits):
    # Run
    refit = pretrained(tiny_pipeline, **LORA).fit(digits, seed=0)

    # Assert
    wanted = conditions(LABELS)
    np.testing.assert_array_equal(
        images(refit.sample(3, seed=1, conditions=wanted)),
        images(tuned.sample(3, seed=1, conditions=wanted)),
    )


def test_lora_learns_each_image_s_own_prompt_when_the_images_carry_prompts(
    tuned, tiny_pipeline, digits
):
    # Setup: a job's prompts caption every image; the template is then not used.
    names = digits.label_names
    captioned = digits.with_prompts([f"a digit {names[i]}" for i in digits.labels])

    # Run
    prompted = pretrained(tiny_pipeline, **LORA).fit(captioned, seed=0)

    # Assert
    wanted = sorted({f"a digit {names[i]}" for i in digits.labels})
    assert prompted.training_info()["lora_prompts"] == wanted
    assert tuned.training_info()["lora_prompts"][0] == "a photo of a 0"
    frames = [g.sample(3, seed=1, conditions=conditions(LABELS)) for g in (tuned, prompted)]
    assert not np.array_equal(*map(images, frames))


def test_lora_round_trips_through_save_and_load(tuned, tmp_path):
    # Setup
    tuned.save(tmp_path / "model")
    wanted = conditions(LABELS)

    # Run
    loaded = load_saved_generator(tmp_path / "model")

    # Assert
    assert type(loaded) is get_generator_class("pretrained")
    assert loaded.config == tuned.config
    assert loaded.spec == tuned.spec
    np.testing.assert_array_equal(
        images(loaded.sample(3, seed=1, conditions=wanted)),
        images(tuned.sample(3, seed=1, conditions=wanted)),
    )
    files = {p.relative_to(tmp_path / "model").as_posix() for p in (tmp_path / "model").rglob("*")}
    assert f"{LORA_DIR}/{LORA_WEIGHTS}" in files
    assert not any(name.endswith((".bin", ".pkl", ".pt")) for name in files)


def test_saved_adapters_load_into_plain_diffusers(tuned, tiny_pipeline, tmp_path):
    # Setup
    import torch
    from diffusers import DiffusionPipeline

    tuned.save(tmp_path / "model")
    options = {"local_files_only": True, "use_safetensors": True}
    base, adapted = (DiffusionPipeline.from_pretrained(tiny_pipeline, **options) for _ in "ab")

    # Run
    adapted.load_lora_weights(tmp_path / "model" / LORA_DIR)

    # Assert
    base_image, adapted_image = (
        pipe(
            ["a cat"],
            num_inference_steps=2,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        ).images
        for pipe in (base, adapted)
    )
    assert not np.array_equal(base_image, adapted_image)


def test_a_changed_base_folder_fails_loading(tiny_pipeline, digits, tmp_path):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    pretrained(folder).fit(digits, seed=0).save(tmp_path / "model")
    edit_json(folder / "scheduler" / "scheduler_config.json", steps_offset=0)

    # Run / Assert
    with pytest.raises(IntegrityError, match="changed since this generator was fitted"):
        load_saved_generator(tmp_path / "model")


# ---- broken folders: typed errors naming the file and the fix ---------------------------------
def test_a_missing_folder_is_a_data_error(digits, tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*save_pretrained"):
        pretrained(tmp_path / "nowhere").fit(digits)


def test_an_fsspec_protocol_without_its_filesystem_is_a_config_error(digits):
    with pytest.raises(ConfigError, match="install the fsspec filesystem"):
        pretrained("nosuchprotocol://bucket/my-sd").fit(digits)


def test_a_folder_without_model_index_is_a_data_error(tiny_pipeline, digits, tmp_path):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    (folder / "model_index.json").unlink()

    # Run / Assert
    with pytest.raises(DataError, match=r"copy/model_index\.json does not exist"):
        pretrained(folder).fit(digits)


def test_pickled_weights_are_refused_naming_the_file(tiny_pipeline, digits, tmp_path):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))

    # Run / Assert
    with pytest.raises(DataError, match=r"unet/diffusion_pytorch_model\.bin is a pickled.*"):
        pretrained(folder).fit(digits)


@pytest.mark.parametrize(
    ("class_name", "why"),
    [("StableDiffusionImg2ImgPipeline", "needs an input 'image'"), ("DiTPipeline", "no prompt")],
)
def test_a_pipeline_that_is_not_text_to_image_is_a_config_error(
    tiny_pipeline, digits, tmp_path, class_name, why
):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    edit_json(folder / "model_index.json", _class_name=class_name)

    # Run / Assert
    with pytest.raises(ConfigError, match=f"{class_name}, which .*{why}.*not a text-to-image"):
        pretrained(folder).fit(digits)


def test_custom_pipeline_code_is_refused(tiny_pipeline, digits, tmp_path):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    edit_json(folder / "model_index.json", _class_name=["pipeline", "MyPipeline"])

    # Run / Assert
    with pytest.raises(ConfigError, match="custom pipeline code"):
        pretrained(folder).fit(digits)


@pytest.mark.parametrize(
    ("component", "change", "named"),
    [
        ("unet", {"cross_attention_dim": 16}, "cross_attention_dim=16"),
        ("vae", {"latent_channels": 8}, "latent_channels=8"),
    ],
)
def test_incompatible_components_are_a_data_error(
    tiny_pipeline, digits, tmp_path, component, change, named
):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    edit_json(folder / component / "config.json", **change)

    # Run / Assert
    with pytest.raises(DataError, match=f"{named}.*different models"):
        pretrained(folder).fit(digits)


def test_a_missing_component_folder_is_a_data_error(tiny_pipeline, digits, tmp_path):
    # Setup
    folder = copied(tiny_pipeline, tmp_path)
    shutil.rmtree(folder / "tokenizer")

    # Run / Assert
    with pytest.raises(DataError, match=r"copy/tokenizer does not exist.*'tokenizer'"):
        pretrained(folder).fit(digits)


@pytest.mark.parametrize("kind", ["img2img", "inpaint", "upscale"])
def test_other_pipeline_kinds_are_a_config_error_saying_not_yet(tiny_pipeline, kind):
    with pytest.raises(ConfigError, match=f"pipeline={kind!r} is not supported yet"):
        pretrained(tiny_pipeline, pipeline=kind)


def test_a_template_without_only_a_label_field_is_a_config_error(tiny_pipeline):
    with pytest.raises(ConfigError, match="prompt_template"):
        pretrained(tiny_pipeline, prompt_template="a {kind} of {label}")
