"""Image quality of synthetic images against real ones: fidelity on image features (the
in-project CNN's, `validators.image_features`, or a local CLIP model's, `validators.image_clip`),
utility (CAS) and memorisation, each beside a real-data baseline.

| check                     | category   | value (gate in `ImageThresholds`)                    |
|---------------------------|------------|------------------------------------------------------|
| `image.extractor`         | diagnostic | the CNN's real holdout accuracy (advisory)           |
| `image.fd_cnn`            | fidelity   | Fréchet distance to the real holdout                 |
|                           |            | (<= `fd_floor_ratio_max` x its half-split floor)     |
| `image.fd_cnn_train`      | fidelity   | Fréchet distance to the training images (advisory)   |
| `image.kid_cnn`           | fidelity   | KID, mean over subsets, same features (advisory)     |
| `image.precision`         | fidelity   | k-NN precision (>= `precision_ratio_min` x real's)   |
| `image.recall`            | fidelity   | k-NN recall (>= `recall_ratio_min` x real's)         |
| `image.density`           | fidelity   | k-NN density (advisory)                              |
| `image.coverage`          | fidelity   | k-NN coverage (advisory)                             |
| `image.cas`               | utility    | CAS / real-trained accuracy (>= `cas_ratio_min`)     |
| `image.cas_per_class`     | utility    | lowest per-class ratio (>= `cas_class_ratio_min`)    |
| `image.memorised_pixel`   | privacy    | too near training images (<= `memorised_share_max`)  |
| `image.memorised_feature` | privacy    | the same in feature space (<= `memorised_share_max`) |
| `image.exact_copies`      | privacy    | copies of training images (<= `exact_copies_max`)    |

The CAS checks need labelled synthetic images; with `synthetic_labels=None` they are left out.
Never called FID: the CNN's features come from a net trained on the real training split, not
Inception; with CLIP weights the report says "CLIP-feature FD".

Two references, two floors. Every set is a seeded random subsample of at most `max_images`
images (the result records each N), and every figure is measured twice:

- **against the real holdout** (`ImageQualityResult.holdout`, the gates): images no generator
  and no extractor saw. Each of `holdout_splits` seeded draws splits the holdout in two
  class-stratified halves (random halves when the synthetic images are unlabelled); one half is
  the reference, the other half is the floor, and a stratified draw of as many synthetic images
  (and uniform noise, the ceiling) is compared with the same reference. Floor and synthetic
  images share the reference and the N, the figures are means over the draws, and the floor's
  spread over them is reported.
- **against the training images** (`ImageQualityResult.train`, advisory): the reference is the
  real training images, which the generator fitted; the floor is the real holdout, at
  N = `subset_fraction` x holdout, the mean over `subsets` stratified draws. A generator that stays
  near its training set scores below this floor, better than real data; that is why it does not
  gate.

FD, KID and recall depend on N, so only rows at the same N compare (the two references' figures
and floors differ in N, so compare each with its own floor). CAS trains the extractor's
architecture and recipe on the synthetic subsample and tests it on the holdout subsample.
Memorisation measures the synthetic subsample against the training reference; exact copies
(sha256 of uint8 pixels) compare every synthetic image with every training image. A copy of the
training set is real data: against the holdout it scores as fresh real images do, except for
the drift of the CNN's features on the images it trained on (large for a small training set),
and the privacy checks are what fail it.

Pixels are compared as uint8 (real images are quantised as generators quantise their output,
round(255 x p)), so a copied training image is an exact copy and at distance 0.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core import progress
from core.errors import DataError
from validators.image_features import (
    ExtractorConfig,
    ExtractorInfo,
    load_or_train_extractor,
    train_classifier,
)
from validators.report import CheckResult, make_check
from validators.thresholds import ImageThresholds

if TYPE_CHECKING:
    from core.images import ImageData

PRDC_K = 5  # neighbours defining each sample's ball (Naeem et al. 2020 use k = 5)
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # the usual KID settings (smaller sets use their size)
FD_EPS = 1e-6  # added to both covariances' diagonals when sqrtm of their product fails
MEMORISATION_PERCENTILE = 1.0  # of the holdout's nearest-training-image distances
CLOSEST_PAIRS = 8  # nearest (synthetic, training) pairs kept for the report
PAIRS_PER_BLOCK = 4_000_000  # distance-matrix entries computed at once (bounds memory)


# ---- results -------------------------------------------------------------------------------------
class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class FrechetResult(_Result):
    """Fréchet distance between two Gaussians fitted to feature sets (float64)."""

    distance: float
    eps: float = Field(description="Diagonal offset sqrtm needed (0: none).")
    n_real: int
    n_other: int
    dim: int


class KIDResult(_Result):
    """Unbiased MMD² with the cubic polynomial kernel, over random subsets of both sets."""

    mean: float
    std: float
    subsets: int
    subset_size: int


class PRDCResult(_Result):
    """k-NN precision, recall, density and coverage (Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_real: int
    n_other: int


class FeatureComparison(_Result):
    """One image set (synthetic, real or noise) against a real reference set's features: the mean
    over `subsets` seeded, class-stratified draws of N images each."""

    fd: FrechetResult
    kid: KIDResult = Field(description="Mean of the subsets' KIDs; std pools both spreads.")
    prdc: PRDCResult
    fd_std: float = Field(0.0, description="Spread (std) of the FD over the subsets.")
    subsets: int = 1


class ReferenceComparison(_Result):
    """Synthetic images, their real-vs-real floor and a uniform-noise ceiling against one real
    reference set, each at `images` images per draw (`floor_split` says what the floor compares).

    `train`: the reference is the real training images, which the generator (and the CNN) saw;
    the floor is the real holdout. `holdout`: the reference is one stratified half of the real
    holdout, which nothing saw; the floor is the other half, and every draw is a fresh seeded
    half-split, so the floor is the mean over `floor.subsets` splits with its spread.
    """

    reference: Literal["train", "holdout"]
    synthetic: FeatureComparison
    floor: FeatureComparison
    noise: FeatureComparison
    images: int = Field(description="N per draw of synthetic, floor and noise images alike.")
    reference_images: int
    floor_split: str = Field(description="Which real images the floor compares, in words.")

    @property
    def ratio(self) -> float | None:
        """Synthetic FD / floor FD."""
        return _ratio(self.synthetic.fd.distance, self.floor.fd.distance)


class FeatureInfo(_Result):
    """The features FD, KID, PRDC and feature-space memorisation are measured on."""

    kind: Literal["cnn", "clip"]
    name: str
    layer: str
    dim: int
    sha256: str = Field(description="sha256 of the weights file.")
    path: str = Field(description="The folder the weights were loaded from.")

    @property
    def label(self) -> str:
        """How the report names the features: "Synthpipe CNN" or "CLIP"."""
        return "CLIP" if self.kind == "clip" else "Synthpipe CNN"


class ClassAccuracy(_Result):
    """Holdout accuracy on one class of the real-trained and the synthetic-trained classifier."""

    real: float
    synthetic: float
    ratio: float | None = Field(description="synthetic / real; None when real is 0.")
    holdout_images: int
    synthetic_images: int = Field(description="Synthetic training images with this label.")


class CASResult(_Result):
    """Classification accuracy score: trained on synthetic, tested on the real holdout."""

    real_accuracy: float
    synthetic_accuracy: float
    ratio: float | None = Field(description="synthetic / real accuracy; None when real is 0.")
    min_class_ratio: float | None
    worst_class: str | None
    per_class: dict[str, ClassAccuracy]
    synthetic_images: int
    holdout_images: int


class NeighbourPair(_Result):
    synthetic_index: int
    train_index: int
    distance: float


class MemorisationResult(_Result):
    """Nearest training image of each synthetic image, against the holdout's distances."""

    space: Literal["pixel", "feature"]
    threshold: float = Field(description="The holdout's 1st-percentile nearest distance.")
    memorised_share: float = Field(description="Synthetic share nearer than `threshold`.")
    holdout_share: float = Field(description="The same share of holdout images (reference).")
    synthetic_median: float
    holdout_median: float
    closest: list[NeighbourPair] = Field(description="The nearest pairs, nearest first.")
    synthetic_images: int
    holdout_images: int
    train_images: int


class ExactCopyResult(_Result):
    """Images whose uint8 pixels hash equal to a training image's (every image, no subsample)."""

    copies: int
    rate: float
    examples: list[int] = Field(description="Indices of the first copied synthetic images.")
    holdout_copies: int = Field(description="Real holdout images equal to a training image.")
    synthetic_images: int
    holdout_images: int
    train_images: int


class ImageQualityResult(_Result):
    """Everything `measure_image_quality` measured, with the sizes and seed it used."""

    extractor: ExtractorInfo = Field(description="The CNN behind CAS and `image.extractor`.")
    extractor_accuracy: float = Field(description="The CNN's accuracy on the real holdout.")
    features: FeatureInfo = Field(description="The features of the fidelity checks.")
    holdout: ReferenceComparison = Field(description="Against the real holdout: the gates.")
    train: ReferenceComparison = Field(description="Against the training images (advisory).")
    cas: CASResult | None
    memorisation_pixel: MemorisationResult
    memorisation_feature: MemorisationResult
    exact_copies: ExactCopyResult
    train_images_used: int
    holdout_images_used: int
    synthetic_images_used: int
    synthetic_images_total: int
    max_images: int
    seed: int


# ---- metrics on feature arrays -------------------------------------------------------------------
def frechet_distance(real: np.ndarray, other: np.ndarray, eps: float = FD_EPS) -> FrechetResult:
    """Fréchet distance between Gaussians fitted to `real` `(N, D)` and `other` `(M, D)`.

    ||mu1 - mu2||² + tr(S1 + S2 - 2 sqrt(S1 S2)) in float64 with scipy's `sqrtm`. When that root
    fails (scipy finds the product singular, e.g. a feature constant in both sets, or the root is
    not finite or clearly complex), `eps` is added to both diagonals as in the reference FID code,
    and the result records it; a negligible imaginary part (rounding) is dropped.
    """
    from scipy.linalg import sqrtm

    a, b = _feature_pair(real, other, minimum=2)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)  # (D,)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)  # (D, D)
    used = 0.0
    covmean = _real_sqrtm(cov_a @ cov_b)
    if covmean is None:
        used = eps
        offset = np.eye(a.shape[1]) * eps
        covmean = np.real(sqrtm((cov_a + offset) @ (cov_b + offset)))
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
    distance -= 2 * np.trace(covmean)
    # Rounding can leave a tiny negative distance between near-identical sets.
    return FrechetResult(
        distance=max(float(distance), 0.0), eps=used, n_real=len(a), n_other=len(b), dim=a.shape[1]
    )


def kernel_distance(
    real: np.ndarray,
    other: np.ndarray,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> KIDResult:
    """KID: unbiased MMD² between `real` `(N, D)` and `other` `(M, D)` with the kernel
    k(x, y) = (x·y / D + 1)³, averaged over `subsets` random subsets of min(subset_size, N, M)
    images from each set. About 0 (possibly negative) for sets from one distribution."""
    a, b = _feature_pair(real, other, minimum=2)
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]  # (m, D)
        y = b[rng.choice(len(b), m, replace=False)]  # (m, D)
        within = (
            _kernel_sum(x, x, exclude_diagonal=True) + _kernel_sum(y, y, exclude_diagonal=True)
        ) / (m * (m - 1))
        values[i] = within - 2 * _kernel_sum(x, y) / (m * m)
    return KIDResult(
        mean=float(values.mean()), std=float(values.std()), subsets=subsets, subset_size=m
    )


def prdc(real: np.ndarray, other: np.ndarray, *, k: int = PRDC_K) -> PRDCResult:
    """Precision, recall, density and coverage of `other` `(M, D)` against `real` `(N, D)`.

    Each sample's ball reaches its k-th nearest neighbour in its own set. Precision: share of
    `other` inside some real ball; recall: share of `real` inside some `other` ball; density: mean
    count of real balls holding an `other` sample, over k; coverage: share of real balls holding
    one. Distances are computed in blocks, so memory stays bounded for large sets.
    """
    a, b = _feature_pair(real, other, minimum=k + 1)
    real_radii, other_radii = _kth_nearest(a, a, k), _kth_nearest(b, b, k)  # (N,), (M,)
    inside_real = np.zeros(len(b), dtype=bool)
    balls_held = np.zeros(len(b))
    real_covered = np.zeros(len(a), dtype=bool)
    nearest_other = np.full(len(a), np.inf)
    for rows, block in _distance_blocks(b, a):  # (m, N): other rows against every real sample
        within_real = block < real_radii[None, :]
        inside_real[rows] = within_real.any(axis=1)
        balls_held[rows] = within_real.sum(axis=1)
        real_covered |= (block < other_radii[rows, None]).any(axis=0)
        nearest_other = np.minimum(nearest_other, block.min(axis=0))
    return PRDCResult(
        precision=float(inside_real.mean()),
        recall=float(real_covered.mean()),
        density=float(balls_held.mean() / k),
        coverage=float((nearest_other < real_radii).mean()),
        k=k,
        n_real=len(a),
        n_other=len(b),
    )


def memorisation(
    synthetic: np.ndarray,
    holdout: np.ndarray,
    train: np.ndarray,
    *,
    space: Literal["pixel", "feature"],
    synthetic_ids: np.ndarray | None = None,
    train_ids: np.ndarray | None = None,
) -> MemorisationResult:
    """How many synthetic vectors `(S, D)` sit nearer a training vector `(T, D)` than almost any
    real holdout vector `(H, D)` does.

    The threshold is the holdout's 1st-percentile distance to its nearest training vector, so
    about 1% of holdout images fall below it by construction; a generator that copies training
    images puts far more below it. `*_ids` name the rows in `closest` (default: positions).
    """
    to_train, nearest = _nearest(synthetic, train)  # (S,), (S,)
    holdout_to_train, _ = _nearest(holdout, train)  # (H,)
    threshold = float(np.percentile(holdout_to_train, MEMORISATION_PERCENTILE))
    synthetic_ids = np.arange(len(synthetic)) if synthetic_ids is None else synthetic_ids
    train_ids = np.arange(len(train)) if train_ids is None else train_ids
    order = np.argsort(to_train, kind="stable")[:CLOSEST_PAIRS]
    return MemorisationResult(
        space=space,
        threshold=threshold,
        memorised_share=float((to_train < threshold).mean()),
        holdout_share=float((holdout_to_train < threshold).mean()),
        synthetic_median=float(np.median(to_train)),
        holdout_median=float(np.median(holdout_to_train)),
        closest=[
            NeighbourPair(
                synthetic_index=int(synthetic_ids[i]),
                train_index=int(train_ids[nearest[i]]),
                distance=float(to_train[i]),
            )
            for i in order
        ],
        synthetic_images=len(synthetic),
        holdout_images=len(holdout),
        train_images=len(train),
    )


def exact_copies(synthetic: np.ndarray, holdout: np.ndarray, train: np.ndarray) -> ExactCopyResult:
    """Synthetic (and, as a reference, holdout) uint8 images `(N, H, W, C)` whose sha256 equals
    a training image's."""
    train_hashes = set(_pixel_hashes(train))
    copied = [i for i, h in enumerate(_pixel_hashes(synthetic)) if h in train_hashes]
    return ExactCopyResult(
        copies=len(copied),
        rate=len(copied) / len(synthetic),
        examples=copied[:CLOSEST_PAIRS],
        holdout_copies=sum(h in train_hashes for h in _pixel_hashes(holdout)),
        synthetic_images=len(synthetic),
        holdout_images=len(holdout),
        train_images=len(train),
    )


def classification_accuracy_score(
    holdout_labels: np.ndarray,
    real_predictions: np.ndarray,
    synthetic_predictions: np.ndarray,
    synthetic_train_labels: np.ndarray,
    label_names: Sequence[str],
) -> CASResult:
    """CAS from the holdout predictions `(H,)` of a real-trained and a synthetic-trained
    classifier, overall and per class (a class the generator dropped scores about 0)."""
    real_hits = real_predictions == holdout_labels  # (H,)
    synthetic_hits = synthetic_predictions == holdout_labels  # (H,)
    per_class: dict[str, ClassAccuracy] = {}
    for index, name in enumerate(label_names):
        members = holdout_labels == index
        if not members.any():
            continue
        real, synthetic = float(real_hits[members].mean()), float(synthetic_hits[members].mean())
        per_class[name] = ClassAccuracy(
            real=real,
            synthetic=synthetic,
            ratio=synthetic / real if real > 0 else None,
            holdout_images=int(members.sum()),
            synthetic_images=int((synthetic_train_labels == index).sum()),
        )
    ratios = {name: c.ratio for name, c in per_class.items() if c.ratio is not None}
    worst = min(ratios, key=ratios.__getitem__) if ratios else None
    real_accuracy, synthetic_accuracy = float(real_hits.mean()), float(synthetic_hits.mean())
    return CASResult(
        real_accuracy=real_accuracy,
        synthetic_accuracy=synthetic_accuracy,
        ratio=synthetic_accuracy / real_accuracy if real_accuracy > 0 else None,
        min_class_ratio=None if worst is None else ratios[worst],
        worst_class=worst,
        per_class=per_class,
        synthetic_images=len(synthetic_train_labels),
        holdout_images=len(holdout_labels),
    )


# ---- the whole measurement and its gates ---------------------------------------------------------
P, R = ParamSpec("P"), TypeVar("R")


def _one_blas_thread(function: Callable[P, R]) -> Callable[P, R]:
    """Run `function` with one BLAS thread. Its matmuls are small (KID subsets, distance blocks):
    on 2 busy shared cores two BLAS threads waiting on each other made them ~10x slower, while an
    idle machine loses little; one thread also keeps results independent of the core count."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


@_one_blas_thread
def measure_image_quality(
    real_train: ImageData,
    real_holdout: ImageData,
    synthetic_images: np.ndarray,
    synthetic_labels: Sequence[str] | None,
    *,
    cache_dir: str | Path,
    seed: int = 0,
    max_images: int = 2_000,
    subsets: int = 5,
    subset_fraction: float = 0.8,
    holdout_splits: int = 10,
    extractor_config: ExtractorConfig | None = None,
    feature_extractor: str | Path | None = None,
) -> ImageQualityResult:
    """Every image quality measure of uint8 `synthetic_images` `(N, H, W, C)` (labels: names from
    `real_train.label_names`, or None when unlabelled) against the real split.

    The CNN is loaded from, or trained into, `cache_dir`; the fidelity checks use its features,
    or a local CLIP vision model's when `feature_extractor` names its folder. `seed` draws the
    subsamples, half-splits, noise images and KID subsets (the classifiers use
    `extractor_config.seed`).
    """
    label_index = _check_inputs(real_train, real_holdout, synthetic_images, synthetic_labels)
    # Streams >= 1: numpy pads a seed's entropy with zeros, so [seed, 0] would repeat seed itself.
    train_ids = _subsample(len(real_train), max_images, [seed, 1])
    holdout_ids = _subsample(len(real_holdout), max_images, [seed, 2])
    synthetic_ids = _subsample(len(synthetic_images), max_images, [seed, 3])
    matched = min(len(synthetic_ids), int(subset_fraction * len(holdout_ids)))
    half = min(len(synthetic_ids), len(holdout_ids) // 2)
    if min(matched, half) <= PRDC_K:
        raise DataError(
            f"Image quality needs more than {PRDC_K} synthetic images and more than "
            f"{2 * PRDC_K + 1} real holdout images (it is split in halves); got "
            f"{len(real_holdout)} holdout and {len(synthetic_images)} synthetic images "
            f"(max_images={max_images})."
        )
    train_u8, holdout_u8 = to_uint8(real_train.images), to_uint8(real_holdout.images)
    shape = synthetic_images.shape[1:]  # (H, W, C)
    noise = np.random.default_rng([seed, 4]).integers(0, 256, (matched, *shape), dtype=np.uint8)
    train, holdout = train_u8[train_ids], holdout_u8[holdout_ids]  # (n, H, W, C) each
    synthetic = synthetic_images[synthetic_ids]

    label = "CLIP" if feature_extractor is not None else "CNN"
    with progress.step(f"features ({label})") as step:
        extractor, info = load_or_train_extractor(
            real_train, cache_dir=cache_dir, config=extractor_config
        )
        if feature_extractor is None:
            features_of, feature_info = extractor, cnn_feature_info(info)
        else:
            from validators.image_clip import load_clip_extractor  # loads transformers

            features_of, feature_info = load_clip_extractor(feature_extractor)
        features = {  # (n, D) each
            name: features_of.features(_to_float(images))
            for name, images in (
                ("train", train),
                ("holdout", holdout),
                ("synthetic", synthetic),
                ("noise", noise),
            )
        }
        step.detail = f"{sum(len(f) for f in features.values()):,} images"
    holdout_labels = real_holdout.labels[holdout_ids]
    # Unlabelled synthetic images form one stratum (plain random subsets).
    unlabelled = np.zeros(len(synthetic_ids), dtype=np.int64)
    strata = {
        "holdout": holdout_labels,
        "synthetic": unlabelled if label_index is None else label_index[synthetic_ids],
    }

    def compare(reference: np.ndarray, other: np.ndarray, kid_seed: int) -> FeatureComparison:
        return FeatureComparison(
            fd=frechet_distance(reference, other),
            kid=kernel_distance(reference, other, seed=kid_seed),
            prdc=prdc(reference, other),
        )

    def draw(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
        return features[name][_stratified(strata[name], n, rng)]

    def against_train() -> ReferenceComparison:
        """Synthetic and holdout images against the training features, each the mean over
        `subsets` stratified draws of `matched` images: one draw of N≈360 digits moved the
        floor between 0.30 and 0.86, so one draw cannot be a gate's reference."""
        reference = features["train"]
        runs: dict[str, list[FeatureComparison]] = {"synthetic": [], "holdout": []}
        for k in range(subsets):
            for name, found in runs.items():
                rng = np.random.default_rng([seed, 5, k])
                found.append(compare(reference, draw(name, matched, rng), seed + k))
        return ReferenceComparison(
            reference="train",
            synthetic=_mean_comparison(runs["synthetic"]),
            floor=_mean_comparison(runs["holdout"]),
            noise=compare(reference, features["noise"], seed),  # a ceiling: one draw is plenty
            images=matched,
            reference_images=len(reference),
            floor_split=f"real holdout ({matched} of {len(holdout_ids)}) vs the {len(reference)} "
            "training images the generator and the CNN trained on",
        )

    def against_holdout() -> ReferenceComparison:
        """Synthetic images against one stratified half of the holdout, the floor the other
        half against it, at one N, over `holdout_splits` seeded half-splits: neither side of
        the floor was seen by a generator or the CNN, as the synthetic images were not."""
        runs: dict[str, list[FeatureComparison]] = {"synthetic": [], "floor": [], "noise": []}
        # Halves stratified as the synthetic draws are: by class when labelled, else at random
        # (a stratified floor beside random synthetic draws would favour the floor).
        split_by = holdout_labels if label_index is not None else np.zeros_like(holdout_labels)
        reference_size = 0
        for k in range(holdout_splits):
            rng = np.random.default_rng([seed, 6, k])
            other = _stratified(split_by, len(split_by) // 2, rng)
            reference = np.delete(features["holdout"], other, axis=0)
            reference_size = len(reference)
            floor = features["holdout"][other[_stratified(split_by[other], half, rng)]]
            runs["synthetic"].append(compare(reference, draw("synthetic", half, rng), seed + k))
            runs["floor"].append(compare(reference, floor, seed + k))
            if k == 0:  # a ceiling: one draw is plenty
                runs["noise"].append(compare(reference, features["noise"][:half], seed))
        return ReferenceComparison(
            reference="holdout",
            synthetic=_mean_comparison(runs["synthetic"]),
            floor=_mean_comparison(runs["floor"]),
            noise=runs["noise"][0],
            images=half,
            reference_images=reference_size,
            floor_split=f"one {'stratified ' if label_index is not None else ''}half of the real "
            f"holdout ({half}) vs the other half "
            f"({reference_size}), mean of {holdout_splits} seeded half-splits; no generator or "
            "CNN saw either half",
        )

    with progress.step(
        "FD / KID / PRDC",
        f"{holdout_splits} holdout half-splits of {half:,} and {subsets} training subsets of "
        f"{matched:,} images",
    ):
        comparisons = {"holdout": against_holdout(), "train": against_train()}
    with progress.step("CAS" if label_index is not None else "extractor accuracy"):
        real_predictions = extractor.predict(_to_float(holdout))
        cas = (
            None
            if label_index is None
            else _cas(
                real_train,
                holdout,
                holdout_labels,
                real_predictions,
                label_index[synthetic_ids],
                synthetic,
                info.config,
            )
        )
    with progress.step("memorisation"):
        ids = {"synthetic_ids": synthetic_ids, "train_ids": train_ids}
        memorised = {
            "memorisation_pixel": memorisation(
                _pixel_vectors(synthetic),
                _pixel_vectors(holdout),
                _pixel_vectors(train),
                space="pixel",
                **ids,
            ),
            "memorisation_feature": memorisation(
                features["synthetic"],
                features["holdout"],
                features["train"],
                space="feature",
                **ids,
            ),
            "exact_copies": exact_copies(synthetic_images, holdout_u8, train_u8),
        }
    return ImageQualityResult(
        extractor=info,
        extractor_accuracy=float((real_predictions == holdout_labels).mean()),
        features=feature_info,
        cas=cas,
        **comparisons,
        **memorised,
        train_images_used=len(train_ids),
        holdout_images_used=len(holdout_ids),
        synthetic_images_used=len(synthetic_ids),
        synthetic_images_total=len(synthetic_images),
        max_images=max_images,
        seed=seed,
    )


def cnn_feature_info(info: ExtractorInfo) -> FeatureInfo:
    """The in-project CNN's penultimate features as the fidelity checks name them."""
    return FeatureInfo(
        kind="cnn",
        name=info.name,
        layer=info.layer,
        dim=info.dim,
        sha256=info.sha256,
        path=info.path,
    )


def _cas(
    real_train: ImageData,
    holdout: np.ndarray,
    holdout_labels: np.ndarray,
    real_predictions: np.ndarray,
    synthetic_labels: np.ndarray,
    synthetic: np.ndarray,
    config: ExtractorConfig,
) -> CASResult:
    """CAS: a classifier trained on the synthetic images, scored on the real holdout."""
    classifier = train_classifier(
        _to_float(synthetic), synthetic_labels, real_train.num_classes, config
    )
    return classification_accuracy_score(
        holdout_labels,
        real_predictions,
        classifier.predict(_to_float(holdout)),
        synthetic_labels,
        real_train.label_names,
    )


def image_quality_gates(
    result: ImageQualityResult, thresholds: ImageThresholds
) -> list[CheckResult]:
    """The checks of the module docstring's table from a measured `result`: the fidelity gates
    judge the figures against the real holdout; the training-image figures stand beside them."""
    t, held, seen = thresholds, result.holdout, result.train
    extractor, features = result.extractor, result.features
    about_features = {"extractor": features.name, "layer": features.layer}
    about_features |= {"dim": features.dim, "sha256": features.sha256, "features": features.kind}
    on = f"on {features.label} features"
    # With CLIP weights the report says so in FID's terms: "CLIP-feature FD".
    fd_name = "CLIP-feature FD" if features.kind == "clip" else f"Fréchet distance {on}"
    checks = [
        make_check(
            "image.extractor",
            "diagnostic",
            result.extractor_accuracy,
            f"{extractor.name} ({extractor.layer}, D={extractor.dim}) holdout accuracy "
            f"{result.extractor_accuracy:.3f}, trained on {extractor.train_images} real images",
            extractor.model_dump(mode="json"),
        ),
        make_check(
            "image.fd_cnn",
            "fidelity",
            held.synthetic.fd.distance,
            f"{fd_name} to the real holdout {_fd_text(held)}; against the training images "
            f"(image.fd_cnn_train) {seen.synthetic.fd.distance:.4g}, "
            f"{_fmt_ratio(seen.ratio)}x its floor",
            {**_fd_data(held), "train": _fd_data(seen), **about_features},
            limit=t.fd_floor_ratio_max * held.floor.fd.distance,
            comparison="<=",
            baseline=held.floor.fd.distance,
        ),
        make_check(
            "image.fd_cnn_train",
            "fidelity",
            seen.synthetic.fd.distance,
            f"{fd_name} to the training images the generator saw (advisory: a generator "
            f"near its training set scores low here) {_fd_text(seen)}",
            {**_fd_data(seen), **about_features},
            baseline=seen.floor.fd.distance,
        ),
        make_check(
            "image.kid_cnn",
            "fidelity",
            held.synthetic.kid.mean,
            f"KID {on} to the real holdout {_kid_text(held)}; against the training images "
            f"{_kid_text(seen)}",
            {**_kid_data(held), "train": _kid_data(seen), **about_features},
            baseline=held.floor.kid.mean,
        ),
    ]
    ratio_min = {"precision": t.precision_ratio_min, "recall": t.recall_ratio_min}
    for metric in ("precision", "recall", "density", "coverage"):
        value, real = (getattr(c.prdc, metric) for c in (held.synthetic, held.floor))
        checks.append(
            make_check(
                f"image.{metric}",
                "fidelity",
                value,
                f"{metric} against the real holdout {_prdc_text(held, metric)}; against the "
                f"training images {_prdc_text(seen, metric)}",
                {**_prdc_data(held, metric), "train": _prdc_data(seen, metric)},
                limit=ratio_min[metric] * real if metric in ratio_min else None,
                comparison=">=",
                baseline=real,
            )
        )
    if result.cas is not None:
        checks += _cas_checks(result.cas, t)
    for found in (result.memorisation_pixel, result.memorisation_feature):
        checks.append(
            make_check(
                f"image.memorised_{found.space}",
                "privacy",
                found.memorised_share,
                f"{found.memorised_share:.1%} of {found.synthetic_images} synthetic images lie "
                f"nearer a training image ({found.space} space) than {found.threshold:.4g}, the "
                f"holdout's 1st-percentile distance (holdout: {found.holdout_share:.1%})",
                found.model_dump(),
                limit=t.memorised_share_max,
                comparison="<=",
                baseline=found.holdout_share,
            )
        )
    copies = result.exact_copies
    checks.append(
        make_check(
            "image.exact_copies",
            "privacy",
            copies.copies,
            f"{copies.copies} of {copies.synthetic_images} synthetic images ({copies.rate:.1%}) "
            f"equal a training image pixel for pixel (real holdout: {copies.holdout_copies})",
            copies.model_dump(),
            limit=t.exact_copies_max,
            comparison="<=",
            baseline=copies.holdout_copies,
        )
    )
    return checks


def image_quality_checks(
    real_train: ImageData,
    real_holdout: ImageData,
    synthetic_images: np.ndarray,
    synthetic_labels: Sequence[str] | None,
    thresholds: ImageThresholds | None = None,
    *,
    cache_dir: str | Path,
    seed: int = 0,
    extractor_config: ExtractorConfig | None = None,
) -> list[CheckResult]:
    """Measure (`measure_image_quality`) and gate (`image_quality_gates`) synthetic images; the
    extractor trains `thresholds.extractor_steps` steps unless `extractor_config` says otherwise,
    and `thresholds.feature_extractor` swaps in local CLIP features for the fidelity checks."""
    thresholds = thresholds or ImageThresholds()
    extractor_config = extractor_config or ExtractorConfig(steps=thresholds.extractor_steps)
    result = measure_image_quality(
        real_train,
        real_holdout,
        synthetic_images,
        synthetic_labels,
        cache_dir=cache_dir,
        seed=seed,
        max_images=thresholds.max_images,
        subsets=thresholds.subsets,
        subset_fraction=thresholds.subset_fraction,
        holdout_splits=thresholds.holdout_splits,
        extractor_config=extractor_config,
        feature_extractor=local.path if (local := thresholds.feature_extractor) else None,
    )
    return image_quality_gates(result, thresholds)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images `(N, C, H, W)` in [0, 1] -> uint8 `(N, H, W, C)`, rounded as generators
    quantise their samples (so a copied training image is equal pixel for pixel)."""
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)


# ---- helpers -------------------------------------------------------------------------------------
def _cas_checks(cas: CASResult, t: ImageThresholds) -> list[CheckResult]:
    return [
        make_check(
            "image.cas",
            "utility",
            cas.ratio,
            f"a CNN trained on {cas.synthetic_images} synthetic images scores "
            f"{cas.synthetic_accuracy:.3f} on {cas.holdout_images} real holdout images; trained "
            f"on real images {cas.real_accuracy:.3f}",
            cas.model_dump(exclude={"per_class"}),
            limit=t.cas_ratio_min,
            comparison=">=",
            baseline=1.0,  # the real-trained CNN against itself
        ),
        make_check(
            "image.cas_per_class",
            "utility",
            cas.min_class_ratio,
            f"lowest per-class CAS ratio: class {cas.worst_class!r} "
            f"({_fmt_ratio(cas.min_class_ratio)})",
            {"per_class": cas.model_dump()["per_class"], "worst_class": cas.worst_class},
            limit=t.cas_class_ratio_min,
            comparison=">=",
            baseline=1.0,
        ),
    ]


def _sizes(compared: ReferenceComparison) -> str:
    return (
        f"N={compared.images} vs {compared.reference_images} {compared.reference} images; "
        f"synthetic and floor: mean of {compared.synthetic.subsets} draws"
    )


def _fd_text(compared: ReferenceComparison) -> str:
    syn, floor, noise = compared.synthetic, compared.floor, compared.noise
    return (
        f"{syn.fd.distance:.4g} ± {syn.fd_std:.2g} = {_fmt_ratio(compared.ratio)}x the floor "
        f"{floor.fd.distance:.4g} ± {floor.fd_std:.2g} ({compared.floor_split}), noise "
        f"{noise.fd.distance:.4g} ({_sizes(compared)})"
    )


def _fd_data(compared: ReferenceComparison) -> dict[str, object]:
    syn, floor, noise = compared.synthetic, compared.floor, compared.noise
    return {
        "reference": compared.reference,
        "synthetic": syn.fd.model_dump(),
        "floor": floor.fd.model_dump(),
        "noise": noise.fd.model_dump(),
        "std": {"synthetic": syn.fd_std, "floor": floor.fd_std},
        "subsets": syn.subsets,
        "ratio_to_floor": compared.ratio,
        "floor_split": compared.floor_split,
    }


def _kid_text(compared: ReferenceComparison) -> str:
    syn, floor, noise = compared.synthetic.kid, compared.floor.kid, compared.noise.kid
    return (
        f"{syn.mean:.4g} ± {syn.std:.2g}; real-vs-real {floor.mean:.4g} ± {floor.std:.2g}, "
        f"noise {noise.mean:.4g} ({_sizes(compared)})"
    )


def _kid_data(compared: ReferenceComparison) -> dict[str, object]:
    return {
        "reference": compared.reference,
        "synthetic": compared.synthetic.kid.model_dump(),
        "floor": compared.floor.kid.model_dump(),
        "noise": compared.noise.kid.model_dump(),
    }


def _prdc_text(compared: ReferenceComparison, metric: str) -> str:
    value, real, noise = (
        getattr(c.prdc, metric) for c in (compared.synthetic, compared.floor, compared.noise)
    )
    return (
        f"{value:.3f}; real {real:.3f}, noise {noise:.3f} "
        f"(k={compared.synthetic.prdc.k}, {_sizes(compared)})"
    )


def _prdc_data(compared: ReferenceComparison, metric: str) -> dict[str, object]:
    value, real, noise = (
        getattr(c.prdc, metric) for c in (compared.synthetic, compared.floor, compared.noise)
    )
    return {
        "reference": compared.reference,
        "synthetic": value,
        "real": real,
        "noise": noise,
        "k": compared.synthetic.prdc.k,
    }


def _check_inputs(
    train: ImageData,
    holdout: ImageData,
    synthetic: np.ndarray,
    labels: Sequence[str] | None,
) -> np.ndarray | None:
    """Every problem with the inputs in one DataError; the synthetic label indices `(N,)`."""
    problems = []
    if holdout.label_names != train.label_names:
        problems.append(
            f"real_holdout.label_names {holdout.label_names} differ from real_train's "
            f"{train.label_names}; split both from one ImageData (split_holdout)"
        )
    if holdout.images.shape[1:] != train.images.shape[1:]:
        problems.append(
            f"real_holdout images are {holdout.images.shape[1:]}, real_train's "
            f"{train.images.shape[1:]} (C, H, W)"
        )
    expected = (train.size, train.size, train.channels)
    if not isinstance(synthetic, np.ndarray) or synthetic.dtype != np.uint8:
        problems.append(
            f"synthetic_images must be a uint8 numpy array (N, H, W, C); got "
            f"{getattr(synthetic, 'dtype', type(synthetic).__name__)}"
        )
    elif synthetic.ndim != 4 or synthetic.shape[1:] != expected:
        problems.append(
            f"synthetic_images have shape {synthetic.shape}; the real images need (N, "
            f"{', '.join(map(str, expected))})"
        )
    index = None
    if labels is not None:
        lookup = {name: i for i, name in enumerate(train.label_names)}
        unknown = sorted({str(label) for label in labels} - set(lookup))
        if unknown:
            problems.append(
                f"synthetic_labels {unknown[:10]} are not real label names {train.label_names}"
            )
        elif len(labels) != len(synthetic):
            problems.append(f"{len(labels)} synthetic_labels for {len(synthetic)} images")
        else:
            index = np.asarray([lookup[str(label)] for label in labels], dtype=np.int64)
    if problems:
        raise DataError("Cannot measure image quality: " + "; ".join(problems) + ".")
    return index


def _real_sqrtm(product: np.ndarray) -> np.ndarray | None:
    """The real square root of `product`, or None when scipy finds it singular or the root is not
    finite or has a non-negligible imaginary diagonal."""
    from scipy.linalg import LinAlgWarning, sqrtm

    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)  # how scipy reports a singular product
        try:
            root = sqrtm(product)
        except LinAlgWarning:
            return None
    if not np.isfinite(root).all():
        return None
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            return None
        root = root.real
    return root


def _kernel_sum(x: np.ndarray, y: np.ndarray, exclude_diagonal: bool = False) -> float:
    """Sum of k(x_i, y_j) = (x_i·y_j / D + 1)³ over all pairs (minus i == j for x against x)."""
    kernel = x @ y.T / x.shape[1] + 1  # (m, m)
    kernel = kernel * kernel * kernel  # numpy's ** 3 is a slow generic power
    return float(kernel.sum() - (np.trace(kernel) if exclude_diagonal else 0.0))


def _feature_pair(a: np.ndarray, b: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(f"Feature sets must be (N, D) with one D; got {a.shape} and {b.shape}.")
    if min(len(a), len(b)) < minimum:
        raise DataError(
            f"This measure needs at least {minimum} samples per set; got {len(a)} and {len(b)}."
        )
    return a, b


def _distance_blocks(
    query: np.ndarray, reference: np.ndarray
) -> Iterator[tuple[slice, np.ndarray]]:
    """Euclidean distances `(q, R)` from blocks of consecutive `query` rows to all `reference`."""
    reference_sq = np.einsum("ij,ij->i", reference, reference)  # (R,)
    rows = max(1, PAIRS_PER_BLOCK // len(reference))
    for start in range(0, len(query), rows):
        block = query[start : start + rows]  # (q, D)
        squared = (
            np.einsum("ij,ij->i", block, block)[:, None] + reference_sq - 2 * block @ reference.T
        )
        yield slice(start, start + len(block)), np.sqrt(np.maximum(squared, 0))  # (q, R)


def _kth_nearest(query: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Distance `(Q,)` to the k-th nearest reference row, counting from 0 (a set against itself:
    index 0 is the row itself, so k is its k-th true neighbour)."""
    out = np.empty(len(query))
    for rows, block in _distance_blocks(query, reference):
        out[rows] = np.partition(block, k, axis=1)[:, k]
    return out


def _nearest(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance `(Q,)` to and index `(Q,)` of the nearest reference row."""
    distance, index = np.empty(len(query)), np.empty(len(query), dtype=np.int64)
    for rows, block in _distance_blocks(query, reference):
        index[rows] = block.argmin(axis=1)
        distance[rows] = block[np.arange(len(block)), index[rows]]
    return distance, index


def _subsample(total: int, cap: int, entropy: list[int]) -> np.ndarray:
    """A seeded random order of min(total, cap) of `total` positions."""
    return np.random.default_rng(entropy).permutation(total)[:cap]


def _stratified(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` positions of `labels` `(M,)`, each label's share as in `labels` (largest remainders
    round), in a random order: removes the class-mix noise of a plain random draw."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / len(labels)
    quota = np.floor(exact).astype(np.int64)
    quota[np.argsort(quota - exact, kind="stable")[: n - quota.sum()]] += 1
    picks = [
        rng.choice(np.flatnonzero(labels == c), q, replace=False)
        for c, q in zip(classes, quota, strict=True)
    ]
    return rng.permutation(np.concatenate(picks))


def _mean_comparison(runs: list[FeatureComparison]) -> FeatureComparison:
    fd = np.array([run.fd.distance for run in runs])
    kid_means, kid_stds = (np.array([getattr(run.kid, f) for run in runs]) for f in ("mean", "std"))
    first = runs[0]
    return FeatureComparison(
        fd=first.fd.model_copy(
            update={"distance": float(fd.mean()), "eps": max(run.fd.eps for run in runs)}
        ),
        kid=first.kid.model_copy(
            update={
                "mean": float(kid_means.mean()),
                "std": float(np.sqrt((kid_stds**2).mean() + kid_means.var())),
            }
        ),
        prdc=first.prdc.model_copy(
            update={
                metric: float(np.mean([getattr(run.prdc, metric) for run in runs]))
                for metric in ("precision", "recall", "density", "coverage")
            }
        ),
        fd_std=float(fd.std()),
        subsets=len(runs),
    )


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 `(N, H, W, C)` -> float32 `(N, C, H, W)` in [0, 1], the extractor's input."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def _pixel_vectors(images: np.ndarray) -> np.ndarray:
    """uint8 `(N, H, W, C)` -> float64 `(N, H*W*C)` in [0, 1], for pixel-space distances."""
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def _pixel_hashes(images: np.ndarray) -> list[str]:
    return [hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest() for image in images]


def _ratio(value: float, reference: float) -> float | None:
    return value / reference if reference > 0 else None


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
