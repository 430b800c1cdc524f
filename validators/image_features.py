"""The feature extractor behind the image quality metrics: a small CNN classifier trained in the
project on the real training images (no downloaded weights), cached on disk.

Architecture `synthpipe-cnn-v1` (square images of side >= 4, 1 or 3 channels, width w):

    body   conv3x3(C -> w) ReLU maxpool2 -> conv3x3(w -> 2w) ReLU maxpool2
           -> adaptive average pool to 2x2 -> flatten                         # (N, 8w)
    embed  linear(8w -> D, no bias) BatchNorm ReLU                            # (N, D) = features
    head   linear(D -> classes)                                               # (N, classes)

Features are the output of `embed`, the penultimate layer (`FEATURE_LAYER`), D = `feature_dim`.
The BatchNorm keeps every unit active and on a unit scale: without it about a third of the units
were dead (constant 0, a singular covariance for the Fréchet distance) and the features so large
that KID's kernel (x·y / D + 1)³ was dominated by a few images.
The same architecture and recipe train the classifier of CAS on synthetic images
(`train_classifier`), so its accuracy compares with the extractor's on equal terms.

Training is a fixed number of Adam steps on seeded random batches, on one CPU thread: a net
this small gains nothing from more threads (on busy shared cores two threads ran ~50x slower),
and a single thread keeps the weights independent of the machine's core count.

Cache: `<cache_dir>/synthpipe-cnn-v1-<key>/` holds `model.safetensors` and `extractor.json`
(`ExtractorInfo`: config, data fingerprint, sha256 of the weights file, layer, dimension), where
`key` hashes the training data's `ImageData.fingerprint()` and the `ExtractorConfig`. A hit loads
the weights without training; a weights file whose sha256 differs from the JSON is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.errors import DataError, IntegrityError

if TYPE_CHECKING:
    from core.images import ImageData

EXTRACTOR_NAME = "synthpipe-cnn-v1"  # bump the version when the architecture changes
FEATURE_LAYER = "embed"
WEIGHTS_FILE, INFO_FILE = "model.safetensors", "extractor.json"
MIN_SIZE = 4  # two 2x2 max-pools need a side of at least 4 pixels
INFERENCE_BATCH = 1024


class ExtractorConfig(BaseModel):
    """Architecture and training recipe of the CNN (part of the cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(32, ge=1, description="Channels of the first conv; the second has 2x.")
    feature_dim: int = Field(64, ge=2, description="Dimension D of the penultimate features.")
    steps: int = Field(500, ge=1, description="Adam steps (fixed, whatever the data size).")
    batch_size: int = Field(64, ge=1, description="Images per step (fewer if the data has fewer).")
    learning_rate: float = Field(2e-3, gt=0, description="Adam learning rate.")
    seed: int = Field(0, description="Seeds the initial weights and the batch draws.")


class ExtractorInfo(BaseModel):
    """What identifies a trained extractor; stored as `extractor.json` beside its weights."""

    model_config = ConfigDict(frozen=True)

    name: str = EXTRACTOR_NAME
    layer: str = FEATURE_LAYER
    dim: int
    sha256: str = Field(description="sha256 of the weights file (model.safetensors).")
    data_fingerprint: str = Field(description="ImageData.fingerprint() of the training images.")
    train_images: int
    label_names: list[str]
    channels: int
    size: int
    config: ExtractorConfig
    torch_version: str
    path: str = Field("", description="The cache folder it was loaded from (not stored).")


@dataclass(frozen=True)
class CNNClassifier:
    """A trained `synthpipe-cnn-v1` (eval mode): penultimate features and class predictions."""

    net: Any  # torch.nn.Sequential with children body / embed / head (torch loads lazily)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate features `(N, D)` float64 of float32 images `(N, C, H, W)` in [0, 1]."""
        return self._run(images, lambda x: self.net.embed(self.net.body(x)))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class indices `(N,)` int64 of float32 images `(N, C, H, W)` in [0, 1]."""
        return self._run(images, lambda x: self.net(x).argmax(dim=1)).astype(np.int64)

    def _run(self, images: np.ndarray, forward: Callable[[Any], Any]) -> np.ndarray:
        import torch

        outputs = []
        with single_thread(), torch.no_grad():
            for start in range(0, len(images), INFERENCE_BATCH):
                batch = _as_input(images[start : start + INFERENCE_BATCH])
                outputs.append(forward(batch).double().numpy())
        return np.concatenate(outputs)


def train_classifier(
    images: np.ndarray, labels: np.ndarray, num_classes: int, config: ExtractorConfig
) -> CNNClassifier:
    """Train a `synthpipe-cnn-v1` on float32 images `(N, C, H, W)` in [0, 1], int64 labels `(N,)`.

    Deterministic on the CPU for a given config (seeded weights and batches, one thread); the
    caller's random states are left as they were.
    """
    import torch
    import torch.nn.functional as F

    _check_images(images)
    if len(labels) != len(images):
        raise DataError(f"{len(images)} images but {len(labels)} labels; give one label each.")
    batch = min(config.batch_size, len(images))
    rng = np.random.default_rng(config.seed)
    x, y = torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)
    with single_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = _build_net(images.shape[1], num_classes, config)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
        for _ in range(config.steps):
            index = torch.from_numpy(rng.choice(len(images), size=batch, replace=False))
            loss = F.cross_entropy(net(_as_input(x[index])), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return CNNClassifier(net.eval())


def load_or_train_extractor(
    train: ImageData, *, cache_dir: str | Path, config: ExtractorConfig | None = None
) -> tuple[CNNClassifier, ExtractorInfo]:
    """The extractor for `train` from `cache_dir`, trained and cached first if absent.

    Concurrent callers are safe: each writes to a private folder renamed into place; a loser of
    the race discards its copy and loads the winner's.
    """
    config = config or ExtractorConfig()
    fingerprint = train.fingerprint()
    key = hashlib.sha256(
        json.dumps({"data": fingerprint, "config": config.model_dump()}, sort_keys=True).encode()
    ).hexdigest()[:16]
    directory = Path(cache_dir) / f"{EXTRACTOR_NAME}-{key}"
    if not (directory / INFO_FILE).is_file():
        classifier = train_classifier(train.images, train.labels, train.num_classes, config)
        _save(classifier, train, fingerprint, config, directory)
    return _load(directory)


def _save(
    classifier: CNNClassifier,
    train: ImageData,
    fingerprint: str,
    config: ExtractorConfig,
    directory: Path,
) -> None:
    import torch
    from safetensors.torch import save_file

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}-{uuid.uuid4().hex}")
    staging.mkdir()
    try:
        weights = staging / WEIGHTS_FILE
        state = {name: t.contiguous() for name, t in classifier.net.state_dict().items()}
        save_file(state, weights)
        info = ExtractorInfo(
            dim=config.feature_dim,
            sha256=_sha256(weights),
            data_fingerprint=fingerprint,
            train_images=len(train),
            label_names=list(train.label_names),
            channels=train.channels,
            size=train.size,
            config=config,
            torch_version=torch.__version__,
        )
        (staging / INFO_FILE).write_text(info.model_dump_json(indent=2, exclude={"path"}))
        os.rename(staging, directory)
    except OSError:
        if not (directory / INFO_FILE).is_file():
            raise
        # Another process cached the same extractor first: keep theirs.
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _load(directory: Path) -> tuple[CNNClassifier, ExtractorInfo]:
    from safetensors.torch import load_file

    info = ExtractorInfo.model_validate_json((directory / INFO_FILE).read_text())
    weights = directory / WEIGHTS_FILE
    actual = _sha256(weights)
    if actual != info.sha256:
        raise IntegrityError(
            f"{weights} has sha256 {actual} but {directory / INFO_FILE} records {info.sha256}; "
            f"delete {directory} to retrain the extractor."
        )
    net = _build_net(info.channels, len(info.label_names), info.config)
    net.load_state_dict(load_file(weights))
    return CNNClassifier(net.eval()), info.model_copy(update={"path": str(directory)})


def _build_net(channels: int, num_classes: int, config: ExtractorConfig) -> Any:
    from torch import nn

    width = config.width
    return nn.Sequential(
        OrderedDict(
            body=nn.Sequential(
                nn.Conv2d(channels, width, 3, padding=1),  # (N, w, S, S)
                nn.ReLU(),
                nn.MaxPool2d(2),  # (N, w, S/2, S/2)
                nn.Conv2d(width, 2 * width, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # (N, 2w, S/4, S/4)
                nn.AdaptiveAvgPool2d(2),  # (N, 2w, 2, 2): any side gives the same feature size
                nn.Flatten(),  # (N, 8w)
            ),
            embed=nn.Sequential(
                nn.Linear(8 * width, config.feature_dim, bias=False),
                nn.BatchNorm1d(config.feature_dim),
                nn.ReLU(),
            ),  # (N, D)
            head=nn.Linear(config.feature_dim, num_classes),  # (N, classes)
        )
    )


def _as_input(images: Any) -> Any:
    """[0, 1] pixels (array or tensor) -> a float32 tensor in [-1, 1], centred for the convs."""
    import torch

    return torch.as_tensor(images, dtype=torch.float32) * 2 - 1


def _check_images(images: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[2] != images.shape[3] or images.shape[2] < MIN_SIZE:
        raise DataError(
            f"The CNN takes square images (N, C, H, W) with a side of at least {MIN_SIZE}; got "
            f"shape {images.shape}."
        )
    if len(images) < 2:
        raise DataError(f"The CNN needs at least 2 training images (BatchNorm); got {len(images)}.")


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (see the module docstring for why)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
