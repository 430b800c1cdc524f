"""FD / KID / PRDC on a user's local CLIP vision weights (`validation.feature_extractor`).

Every model here is a tiny random `CLIPVisionModel` built from `CLIPVisionConfig` and written with
`save_pretrained` into a temporary folder; nothing comes from a hub.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError
from job.config import parse_job
from sources.images import load_builtin_images, load_digits_images, split_holdout
from validators.image_clip import load_clip_extractor
from validators.image_quality import to_uint8
from validators.images import SyntheticImages, validate_images

HIDDEN = 32


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=16,
        patch_size=4,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models") / "tiny-clip"
    CLIPVisionModel(config).save_pretrained(folder)
    return folder


def test_clip_features_take_grayscale_and_rgb_at_any_size(clip_dir: Path):
    # Setup: 8x8 grayscale digits and 32x32 RGB photo patches, both resized to the model's 16
    clip, info = load_clip_extractor(clip_dir)
    digits = load_digits_images().images[:20]
    patches = load_builtin_images("photo_patches", 32).images[:20]

    # Run
    found = {name: clip.features(images) for name, images in (("d", digits), ("p", patches))}

    # Assert
    assert (info.kind, info.layer, info.dim) == ("clip", "pooler_output", HIDDEN)
    weights = (clip_dir / "model.safetensors").read_bytes()
    assert info.sha256 == hashlib.sha256(weights).hexdigest()
    for features in found.values():
        assert features.shape == (20, HIDDEN) and np.isfinite(features).all()
        assert features.std(axis=0).min() > 0  # the images are told apart
    assert np.array_equal(clip.features(digits), found["d"])  # eval mode: deterministic


def test_job_feature_extractor_path_makes_the_checks_clip_feature_fd(clip_dir: Path, tmp_path):
    # Setup: a digits job pointing validation.feature_extractor at the local CLIP folder
    job = parse_job(
        {
            "dataset": "digits-clip",
            "source": {"builtin": "digits"},
            "generator": {"name": "vae"},
            "rows": 100,
            "validation": {"feature_extractor": {"path": str(clip_dir)}, "extractor_steps": 60},
        }
    )
    train, rest, _ = split_holdout(load_digits_images(), 0.3, seed=0)
    holdout, fresh, _ = split_holdout(rest, 0.5, seed=1)
    images = to_uint8(fresh.images)
    labels = [fresh.label_names[i] for i in fresh.labels]
    synthetic = SyntheticImages(images, labels, [f"s{i}" for i in range(len(images))])

    # Run
    report = validate_images(
        train,
        synthetic,
        real_holdout=holdout,
        extractor_cache=tmp_path,
        thresholds=job.validation,
    )

    # Assert: the fidelity checks name and use the CLIP features; CAS keeps the CNN
    fd = report.check("image.fd_cnn")
    assert fd.detail.startswith("CLIP-feature FD to the real holdout")
    assert report.check("image.fd_cnn_train").detail.startswith("CLIP-feature FD")
    assert (fd.data["features"], fd.data["dim"]) == ("clip", HIDDEN)
    assert fd.data["extractor"] == "clip-vision:tiny-clip" and fd.data["layer"] == "pooler_output"
    assert fd.data["synthetic"]["dim"] == HIDDEN and fd.data["train"]["synthetic"]["dim"] == HIDDEN
    assert fd.data["noise"]["distance"] > fd.data["floor"]["distance"]
    assert "CLIP features" in report.check("image.kid_cnn").detail
    assert report.check("image.extractor").data["name"] == "synthpipe-cnn-v1"
    assert report.check("image.cas").value is not None
    assert report.thresholds["feature_extractor"] == {"path": str(clip_dir)}


def _copy(clip_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "clip"
    shutil.copytree(clip_dir, folder)
    return folder


def test_missing_folder_is_a_config_error_naming_it(tmp_path: Path):
    missing = tmp_path / "nowhere"

    with pytest.raises(ConfigError, match=re.escape(f"{missing} is not a folder")) as error:
        load_clip_extractor(missing)
    assert "CLIPVisionModel.save_pretrained" in str(error.value)


def test_folder_without_config_is_a_config_error_naming_the_file(clip_dir, tmp_path: Path):
    folder = _copy(clip_dir, tmp_path)
    (folder / "config.json").unlink()

    with pytest.raises(ConfigError, match=re.escape(f"{folder / 'config.json'} is missing")):
        load_clip_extractor(folder)


def test_another_model_type_is_a_config_error_naming_the_config(clip_dir, tmp_path: Path):
    folder = _copy(clip_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "bert"}))

    with pytest.raises(ConfigError, match=re.escape("describes a 'bert' model, not a CLIP")):
        load_clip_extractor(folder)


def test_missing_weights_are_a_config_error_naming_the_files(clip_dir, tmp_path: Path):
    folder = _copy(clip_dir, tmp_path)
    (folder / "model.safetensors").unlink()

    message = "no weights file (model.safetensors or pytorch_model.bin)"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_clip_extractor(folder)


def test_unreadable_weights_are_a_config_error_naming_the_file(clip_dir, tmp_path: Path):
    folder = _copy(clip_dir, tmp_path)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")

    message = f"{folder / 'model.safetensors'} could not be loaded as a CLIPVisionModel"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_clip_extractor(folder)


def test_weights_lacking_vision_tensors_are_a_config_error(clip_dir, tmp_path: Path):
    from safetensors.torch import load_file, save_file

    folder = _copy(clip_dir, tmp_path)
    weights = load_file(folder / "model.safetensors")
    dropped = sorted(weights)[0]
    save_file({k: v for k, v in weights.items() if k != dropped}, folder / "model.safetensors")

    with pytest.raises(ConfigError, match=re.escape("lacks 1 of the CLIP vision weights")):
        load_clip_extractor(folder)


def test_a_whole_clip_model_folder_gives_its_vision_tower(tmp_path: Path):
    import torch
    from transformers import CLIPConfig, CLIPModel

    tower = {"hidden_size": HIDDEN, "intermediate_size": 37, "num_hidden_layers": 2}
    tower |= {"num_attention_heads": 4}
    config = CLIPConfig(
        text_config=tower | {"vocab_size": 99},
        vision_config=tower | {"image_size": 16, "patch_size": 4},
        projection_dim=16,
    )
    torch.manual_seed(0)
    full = CLIPModel(config).eval()
    full.save_pretrained(tmp_path / "clip")
    images = load_digits_images().images[:8]

    # Run
    clip, info = load_clip_extractor(tmp_path / "clip")

    # Assert: the features are the full model's vision tower's, on the same preprocessing
    pixels = torch.nn.functional.interpolate(
        torch.as_tensor(images).expand(-1, 3, -1, -1), size=16, mode="bicubic", antialias=True
    ).clamp(0, 1)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (clip.mean, clip.std))
    with torch.no_grad():
        expected = full.vision_model(pixel_values=(pixels - mean) / std).pooler_output
    assert info.dim == HIDDEN and info.name == "clip-vision:clip"
    assert np.allclose(clip.features(images), expected.double().numpy(), atol=1e-5)


@pytest.mark.gpu
def test_clip_features_on_cuda_match_the_cpu(clip_dir: Path):
    # Setup: the loader puts the model on CUDA when there is one; a CPU copy as the reference
    import dataclasses

    clip, _ = load_clip_extractor(clip_dir)
    on_cpu = dataclasses.replace(clip, model=clip.model.to("cpu"))
    images = load_builtin_images("photo_patches", 32).images[:32]
    expected = on_cpu.features(images)

    # Run
    clip, _ = load_clip_extractor(clip_dir)
    found = clip.features(images)

    # Assert
    assert next(clip.model.parameters()).device.type == "cuda"
    assert np.allclose(found, expected, atol=1e-2)  # cuDNN may run the patch conv in TF32
