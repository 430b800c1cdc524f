"""Image quality validators with known answers on 8x8 digits.

digits is split three ways (seeded, stratified): 60% train the extractor, 20% are the real holdout
and 20% stand in for a perfect generator ("fresh" real images never seen by the extractor). The
extractor trains once per session into a temporary cache with fewer steps than the default.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import DataError, IntegrityError
from core.images import ImageData
from sources.images import load_builtin_images, load_digits_images, split_holdout
from validators.image_features import (
    INFO_FILE,
    WEIGHTS_FILE,
    CNNClassifier,
    ExtractorConfig,
    ExtractorInfo,
    load_or_train_extractor,
    train_classifier,
)
from validators.image_quality import (
    ImageQualityResult,
    _stratified,
    frechet_distance,
    image_quality_checks,
    kernel_distance,
    measure_image_quality,
    prdc,
    to_uint8,
)
from validators.images import SyntheticImages, validate_images
from validators.report import CheckResult
from validators.thresholds import ImageThresholds

CONFIG = ExtractorConfig(steps=300)  # ~99% holdout accuracy on digits in a few seconds


@dataclass(frozen=True)
class Split:
    train: ImageData
    holdout: ImageData
    fresh: ImageData
    cache_dir: Path


@dataclass(frozen=True)
class Trained:
    classifier: CNNClassifier
    info: ExtractorInfo
    seconds: float


@pytest.fixture(scope="session")
def split(tmp_path_factory) -> Split:
    train, rest, _ = split_holdout(load_digits_images(), 0.4, seed=0)
    holdout, fresh, _ = split_holdout(rest, 0.5, seed=1)
    return Split(train, holdout, fresh, tmp_path_factory.mktemp("extractors"))


@pytest.fixture(scope="session")
def trained(split: Split) -> Trained:
    """The session's one extractor training (every later call hits the cache)."""
    started = time.perf_counter()
    classifier, info = load_or_train_extractor(
        split.train, cache_dir=split.cache_dir, config=CONFIG
    )
    return Trained(classifier, info, time.perf_counter() - started)


def labelled(data: ImageData) -> tuple[np.ndarray, list[str]]:
    """`data` as a generator would hand it over: uint8 (N, H, W, C) images and label names."""
    return to_uint8(data.images), [data.label_names[i] for i in data.labels]


def measure(
    split: Split, images: np.ndarray, labels: list[str] | None, seed: int = 3, **options: Any
) -> ImageQualityResult:
    return measure_image_quality(
        split.train,
        split.holdout,
        images,
        labels,
        cache_dir=split.cache_dir,
        seed=seed,
        extractor_config=CONFIG,
        **options,
    )


def by_name(checks: list[CheckResult]) -> dict[str, CheckResult]:
    return {check.name: check for check in checks}


@pytest.fixture(scope="session")
def fresh_result(split: Split, trained: Trained) -> ImageQualityResult:
    return measure(split, *labelled(split.fresh))


# ---- metrics on feature arrays -------------------------------------------------------------------
def test_frechet_distance_known_gaussians():
    # Setup: N(0, I) and N(1, 4 I) in 4-D: ||mu||² + D (1 + 4 - 2·2) = 4 + 4 = 8
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(100_000, 4)), rng.normal(1.0, 2.0, size=(100_000, 4))

    # Run
    result = frechet_distance(a, b)

    # Assert
    assert result.distance == pytest.approx(8.0, rel=0.02)
    assert result.eps == 0.0
    assert frechet_distance(a, a).distance == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_fewer_samples_than_dimensions_stays_finite():
    # Setup: fewer samples than dimensions, so both covariances are singular
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32))

    # Run
    result = frechet_distance(a, b)

    # Assert
    assert np.isfinite(result.distance) and result.distance >= 0


def test_frechet_distance_dead_feature_falls_back_to_eps():
    # Setup: a feature that is 0 in both sets (a dead unit) makes the product exactly singular
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 6)), rng.normal(0.3, 1.0, size=(500, 6))
    dead = np.zeros((500, 1))

    # Run
    result = frechet_distance(np.hstack([a, dead]), np.hstack([b, dead]))

    # Assert: the eps fallback ran and the dead unit adds (almost) nothing
    assert result.eps > 0
    assert result.distance == pytest.approx(frechet_distance(a, b).distance, abs=1e-4)


def test_kernel_distance_near_zero_for_one_distribution_and_seeded():
    # Setup
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    shifted = rng.normal(0.5, 1.0, size=(600, 8))

    # Run
    same = kernel_distance(a, b, subsets=20, subset_size=200, seed=1)
    apart = kernel_distance(a, shifted, subsets=20, subset_size=200, seed=1)

    # Assert
    assert abs(same.mean) < 3 * same.std
    assert apart.mean > 10 * abs(same.mean) + 3 * apart.std
    assert kernel_distance(a, b, subsets=20, subset_size=200, seed=1) == same


def test_prdc_identical_sets_and_disjoint_sets():
    # Setup
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 4))

    # Run
    identical = prdc(real, real.copy())
    disjoint = prdc(real, real + 100.0)

    # Assert
    assert (identical.precision, identical.recall, identical.coverage) == (1.0, 1.0, 1.0)
    assert (disjoint.precision, disjoint.recall, disjoint.density, disjoint.coverage) == (
        0,
        0,
        0,
        0,
    )


# ---- the extractor -------------------------------------------------------------------------------
def test_extractor_records_its_layer_dimension_and_hash(split: Split, trained: Trained):
    # Setup
    info = trained.info
    weights = Path(info.path) / WEIGHTS_FILE

    # Assert
    assert (info.layer, info.dim) == ("embed", CONFIG.feature_dim)
    assert info.data_fingerprint == split.train.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", info.sha256)
    assert weights.is_file() and (Path(info.path) / INFO_FILE).is_file()
    features = trained.classifier.features(split.holdout.images[:5])
    assert features.shape == (5, CONFIG.feature_dim) and features.dtype == np.float64


def test_train_classifier_is_deterministic_for_a_seed(split: Split):
    # Setup
    images, labels = split.train.images[:200], split.train.labels[:200]
    config = ExtractorConfig(steps=20, seed=5)

    # Run
    first, second = (train_classifier(images, labels, 10, config) for _ in range(2))
    other = train_classifier(images, labels, 10, config.model_copy(update={"seed": 6}))

    # Assert
    np.testing.assert_array_equal(first.features(images), second.features(images))
    assert not np.array_equal(first.features(images), other.features(images))


def test_extractor_cache_hit_skips_training(split: Split, trained: Trained):
    # Setup
    weights = Path(trained.info.path) / WEIGHTS_FILE
    mtime = weights.stat().st_mtime_ns

    # Run
    started = time.perf_counter()
    classifier, info = load_or_train_extractor(
        split.train, cache_dir=split.cache_dir, config=CONFIG
    )
    seconds = time.perf_counter() - started

    # Assert
    assert info == trained.info
    assert weights.stat().st_mtime_ns == mtime
    assert seconds < trained.seconds / 2
    images = split.holdout.images[:20]
    np.testing.assert_array_equal(classifier.features(images), trained.classifier.features(images))


def test_extractor_corrupted_weights_raise(split: Split, trained: Trained, tmp_path: Path):
    # Setup: a copy of the cache with one weights byte changed
    source = Path(trained.info.path)
    copy = tmp_path / source.name
    copy.mkdir()
    (copy / INFO_FILE).write_bytes((source / INFO_FILE).read_bytes())
    weights = bytearray((source / WEIGHTS_FILE).read_bytes())
    weights[-1] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(weights))

    # Run / Assert
    with pytest.raises(IntegrityError, match=re.escape(f"delete {copy} to retrain")):
        load_or_train_extractor(split.train, cache_dir=tmp_path, config=CONFIG)


@pytest.mark.parametrize(
    ("builtin", "size"),
    [("photo_patches", 16), ("photo_patches", 32), ("photo_patches", 64), ("lfw_faces", 25)],
)
def test_extractor_takes_rgb_and_grayscale_photos_at_16_to_64_pixels(builtin: str, size: int):
    # Setup: a real built-in at its size, RGB (photo_patches) or grayscale (lfw_faces)
    train, holdout, _ = split_holdout(load_builtin_images(builtin, size), 0.25, seed=0)
    config = ExtractorConfig(steps=40, width=8)

    # Run
    classifier = train_classifier(train.images, train.labels, train.num_classes, config)
    features = classifier.features(holdout.images)

    # Assert: features of the configured dimension, finite, nearly every unit alive (BatchNorm),
    # and a classifier that already beats chance on real holdout images
    assert train.images.shape[1:] == (3 if builtin == "photo_patches" else 1, size, size)
    assert features.shape == (len(holdout), config.feature_dim)
    assert np.isfinite(features).all() and (features.std(axis=0) > 0).mean() > 0.9
    accuracy = (classifier.predict(holdout.images) == holdout.labels).mean()
    assert accuracy > 1.5 / train.num_classes


def test_quality_checks_run_on_rgb_photo_patches(tmp_path: Path):
    # Setup: 32x32 RGB patches, two thirds real training images, the rest split into a holdout
    # and "fresh" unseen patches standing in for a perfect generator
    train, rest, _ = split_holdout(load_builtin_images("photo_patches", 32), 0.4, seed=0)
    holdout, fresh, _ = split_holdout(rest, 0.5, seed=1)

    # Run
    result = measure_image_quality(
        train,
        holdout,
        *labelled(fresh),
        cache_dir=tmp_path,
        extractor_config=ExtractorConfig(steps=60, width=8),
    )

    # Assert
    assert result.extractor.channels == 3 and result.extractor.size == 32
    assert result.features.kind == "cnn" and result.features.dim == 64
    for compared in (result.holdout, result.train):
        assert compared.noise.fd.distance > 5 * compared.floor.fd.distance
        assert 0.5 < compared.ratio < 2.0
    assert result.exact_copies.copies == 0


# ---- the whole measurement -----------------------------------------------------------------------
def test_fresh_real_images_sit_at_the_floor_and_noise_far_above(fresh_result):
    # Assert: unseen real images are as far from each reference as its floor; noise is far beyond
    assert fresh_result.extractor_accuracy > 0.95
    for compared in (fresh_result.holdout, fresh_result.train):
        synthetic, floor, noise = compared.synthetic, compared.floor, compared.noise
        assert synthetic.fd.n_other == floor.fd.n_other == noise.fd.n_other == compared.images
        assert synthetic.fd.n_real == floor.fd.n_real == noise.fd.n_real
        assert 0.67 < compared.ratio < 1.5
        assert noise.fd.distance > 20 * max(floor.fd.distance, synthetic.fd.distance)
        assert noise.kid.mean > 20 * max(abs(floor.kid.mean), abs(synthetic.kid.mean))
        assert synthetic.prdc.recall > 0.9 * floor.prdc.recall
        # (balls of 180 holdout images are wider than those of 1,078 training images)
        assert noise.prdc.precision < 0.1 and noise.prdc.coverage < 0.1
    assert fresh_result.cas is not None and fresh_result.cas.ratio > 0.9
    assert fresh_result.memorisation_pixel.memorised_share < 0.05
    assert fresh_result.exact_copies.copies == 0


def test_train_floor_is_the_mean_over_stratified_subsets_at_matched_n(split: Split, fresh_result):
    # Setup
    train = fresh_result.train
    matched = int(0.8 * len(split.holdout))  # subset_fraction 0.8 of the holdout

    # Assert: five subsets of one N on both sides, whose FDs spread (so one draw would mislead)
    assert train.reference == "train" and train.reference_images == len(split.train)
    assert train.floor.subsets == train.synthetic.subsets == 5
    assert train.floor.fd.n_other == train.synthetic.fd.n_other == matched
    assert 0 < train.floor.fd_std < train.floor.fd.distance
    assert "training images" in train.floor_split


def test_holdout_floor_is_the_mean_over_half_splits_of_the_holdout(split: Split, fresh_result):
    # Setup
    held = fresh_result.holdout
    half = len(split.holdout) // 2

    # Assert: ten seeded half-splits; floor and synthetic images share the reference half and N
    assert held.reference == "holdout"
    assert held.floor.subsets == held.synthetic.subsets == 10
    assert held.images == half and held.reference_images == len(split.holdout) - half
    assert held.floor.fd.n_real == held.synthetic.fd.n_real == held.reference_images
    assert 0 < held.floor.fd_std < held.floor.fd.distance
    assert "half of the real holdout" in held.floor_split


@pytest.mark.slow
def test_holdout_floor_is_stable_across_seeds_unlike_one_half_split(split: Split, trained):
    # Setup: one half-split against the mean of ten, over three seeds (unlabelled: no CAS)
    images, _ = labelled(split.fresh)
    floors = {
        splits: [
            measure(split, images, None, seed=seed, holdout_splits=splits).holdout.floor
            for seed in (4, 5, 6)
        ]
        for splits in (1, 10)
    }

    # Assert: the mean of ten moves less between seeds than single splits do
    spread = {k: np.ptp([f.fd.distance for f in found]) for k, found in floors.items()}
    assert spread[10] < spread[1]
    assert all(f.fd_std > 0 for f in floors[10])


def test_copying_the_training_set_scores_better_than_real_only_against_train(split, fresh_result):
    # Setup: a stub generator that returns its training images verbatim, with their labels
    copies = measure(split, *labelled(split.train))
    fresh = fresh_result

    # Assert: against the images it copied it looks far better than unseen real images do (below
    # the floor, precision 1); against the holdout it scores as unseen real images do: a copy of
    # the training set is real data, so it cannot sit above the floor there either
    assert copies.train.ratio < 0.6 < fresh.train.ratio
    assert copies.train.synthetic.prdc.precision == 1.0 > fresh.train.synthetic.prdc.precision
    assert copies.holdout.ratio > 0.8 and abs(copies.holdout.ratio - fresh.holdout.ratio) < 0.2


def test_copying_a_small_training_set_fails_the_holdout_gate_and_passes_against_train(tmp_path):
    # Setup: 200 training images (digits_augment's 20 per class), a 30% holdout and 200 unseen
    # real images. With so few images the CNN's features of its own training images differ from
    # those of unseen ones, which a copy carries and the holdout's two unseen halves do not.
    # The gate sits between unseen real images (0.98x here) and the copy (2.14x): 1.5x.
    train_all, holdout, _ = split_holdout(load_digits_images(), 0.3, seed=0)
    train, rest, _ = split_holdout(train_all, 1 - 200 / len(train_all), seed=10)
    fresh, _, _ = split_holdout(rest, 1 - 200 / len(rest), seed=20)
    thresholds = ImageThresholds(extractor_steps=CONFIG.steps, fd_floor_ratio_max=1.5)

    def fd_checks(images: ImageData) -> tuple[CheckResult, CheckResult]:
        checks = by_name(
            image_quality_checks(
                train, holdout, *labelled(images), thresholds, cache_dir=tmp_path, seed=3
            )
        )
        return checks["image.fd_cnn"], checks["image.fd_cnn_train"]

    # Run
    (copy_gate, copy_train), (fresh_gate, fresh_train) = fd_checks(train), fd_checks(fresh)

    # Assert: the copy is at distance 0 from the training images, far under any train-based
    # limit, and fails the holdout gate that unseen real images pass
    assert copy_train.value < 1e-6 < fresh_train.value
    assert copy_train.value <= thresholds.fd_floor_ratio_max * copy_train.baseline
    assert not copy_gate.passed and copy_gate.data["ratio_to_floor"] > 1.8
    assert fresh_gate.passed and fresh_gate.data["ratio_to_floor"] < 1.3


def test_checks_gate_on_the_holdout_and_report_the_training_figures_beside(split, trained):
    # Setup: the copying stub again, through the gates; the train-based FD passes even the
    # digits_ddpm job's strict 1.0x, and is advisory
    images, labels = labelled(split.train)
    thresholds = ImageThresholds(extractor_steps=CONFIG.steps, fd_floor_ratio_max=1.0)

    # Run
    checks = by_name(
        image_quality_checks(
            split.train,
            split.holdout,
            images,
            labels,
            thresholds,
            cache_dir=split.cache_dir,
            seed=3,
            extractor_config=CONFIG,
        )
    )

    # Assert
    fd, fd_train = checks["image.fd_cnn"], checks["image.fd_cnn_train"]
    assert fd.data["reference"] == "holdout" and fd.data["train"]["reference"] == "train"
    assert fd.threshold == pytest.approx(fd.data["floor"]["distance"])
    assert fd.baseline == fd.data["floor"]["distance"] and fd.gate
    assert fd.value == fd.data["synthetic"]["distance"] > fd_train.value
    assert fd_train.threshold is None and not fd_train.gate
    assert fd_train.value < 0.6 * fd_train.baseline  # "better than real" against train
    assert fd_train.value == fd.data["train"]["synthetic"]["distance"]
    assert "half of the real holdout" in fd.detail and "training images" in fd.detail
    for metric in ("precision", "recall"):
        check = checks[f"image.{metric}"]
        assert check.data["reference"] == "holdout" and check.gate
        assert check.threshold == pytest.approx(0.7 * check.data["real"])
        assert check.data["train"]["reference"] == "train"
    assert checks["image.precision"].data["train"]["synthetic"] == 1.0
    assert not checks["image.exact_copies"].passed  # what does fail a copy: the privacy gates


def test_stratified_draw_keeps_each_class_share():
    # Setup: 50% / 30% / 20% of 100 labels
    labels = np.repeat([0, 1, 2], [50, 30, 20])

    # Run
    first = _stratified(labels, 10, np.random.default_rng(0))
    second = _stratified(labels, 10, np.random.default_rng(1))

    # Assert
    for picks in (first, second):
        assert len(set(picks)) == 10
        assert np.bincount(labels[picks], minlength=3).tolist() == [5, 3, 2]
    assert set(first) != set(second)


def test_measure_is_deterministic_for_a_seed(split: Split, fresh_result: ImageQualityResult):
    # Run
    again = measure(split, *labelled(split.fresh))

    # Assert: subsamples, noise images, KID subsets and the CAS classifier all repeat
    assert again == fresh_result


def test_checks_copies_of_training_images_fail_privacy(split: Split, trained: Trained):
    # Setup: an unlabelled "generator" that returns its training images
    copies = to_uint8(split.train.images)

    # Run
    checks = by_name(
        image_quality_checks(
            split.train,
            split.holdout,
            copies,
            None,
            cache_dir=split.cache_dir,
            seed=3,
            extractor_config=CONFIG,
        )
    )

    # Assert
    exact = checks["image.exact_copies"]
    assert exact.value == len(copies) and exact.data["rate"] == 1.0 and not exact.passed
    for space in ("pixel", "feature"):
        memorised = checks[f"image.memorised_{space}"]
        assert memorised.value > 0.99 and not memorised.passed and memorised.category == "privacy"
        for pair in memorised.data["closest"]:  # the nearest training image is the one copied
            assert pair["distance"] < 1e-6
            assert np.array_equal(copies[pair["synthetic_index"]], copies[pair["train_index"]])
    assert "image.cas" not in checks  # unlabelled: no CAS


def test_checks_generator_collapsed_to_one_class_fails_cas_per_class(split: Split, trained):
    # Setup: every synthetic image is a real '3'
    threes = split.train.subset(np.flatnonzero(split.train.labels == 3))
    images, labels = labelled(threes)

    # Run
    checks = by_name(
        image_quality_checks(
            split.train,
            split.holdout,
            images,
            labels,
            cache_dir=split.cache_dir,
            seed=3,
            extractor_config=CONFIG,
        )
    )

    # Assert
    per_class = checks["image.cas_per_class"]
    assert not per_class.passed and per_class.value < 0.05 and per_class.category == "utility"
    assert per_class.data["per_class"]["3"]["synthetic"] > 0.9
    assert not checks["image.cas"].passed
    for metric in ("recall", "coverage"):  # only the '3' tenth of the real images is reached
        assert checks[f"image.{metric}"].value < 0.15 < checks[f"image.{metric}"].data["real"]
    assert not checks["image.recall"].passed
    assert not checks["image.fd_cnn"].passed


def test_validate_images_report_speaks_of_images_the_quality_checks_sampled(split, trained):
    # Setup: the extractor's steps as in CONFIG, so the session's cached extractor is used
    images, labels = labelled(split.fresh)
    synthetic = SyntheticImages(images, labels, [f"s{i}" for i in range(len(images))])
    thresholds = ImageThresholds(extractor_steps=CONFIG.steps, max_images=60, subsets=1)

    # Run
    report = validate_images(
        split.train,
        synthetic,
        real_holdout=split.holdout,
        extractor_cache=split.cache_dir,
        thresholds=thresholds,
        seed=3,
    )

    # Assert
    assert (report.kind, report.synthetic_rows, report.evaluated_rows) == ("image", len(images), 60)
    assert report.check("image.memorised_pixel").data["synthetic_images"] == 60  # what they used
    assert (
        f"Real images: {len(split.train):,}; synthetic images: {len(images):,}; synthetic "
        "images evaluated by the image-quality checks: 60 (seed 3)."
    ) in report.to_markdown()


def test_measure_rejects_bad_inputs_naming_each_problem(split: Split):
    # Setup
    floats = np.zeros((10, 8, 8, 1), dtype=np.float32)

    # Run / Assert
    with pytest.raises(DataError, match="must be a uint8 numpy array"):
        measure(split, floats, None)
    images = np.zeros((10, 8, 8, 1), dtype=np.uint8)
    with pytest.raises(DataError, match=re.escape("synthetic_labels ['cat'] are not real label")):
        measure(split, images, ["cat"] * 10)
    with pytest.raises(DataError, match=re.escape("have shape (10, 4, 4, 1)")):
        measure(split, np.zeros((10, 4, 4, 1), dtype=np.uint8), None)
    with pytest.raises(DataError, match="needs more than 5 synthetic images and more than 11"):
        measure(split, images[:5], None)


def test_importing_the_validators_loads_neither_torch_nor_scipy():
    code = (
        "import sys, validators, validators.image_quality, validators.image_features; "
        "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
