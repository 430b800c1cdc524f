"""Images in memory: one array of pixels, one of label indices, the label names and, for
text-to-image data, one prompt per image.

Kept free of torch so loaders, validators and the CLI can hold images without loading it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class ImageData:
    """Square images with a class label each, and optionally a text prompt each.

    `images` is float32 `(N, C, H, W)` with C in {1, 3} and H == W, pixel values in [0, 1];
    `labels` is int64 `(N,)`, indices into `label_names`; `prompts` (text-to-image training
    data) holds one string per image. The structure is checked here; pixel values (NaN, range)
    are checked by the generators before they fit.
    """

    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    source: str = ""
    prompts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray) or images.dtype != np.float32 or images.ndim != 4:
            raise DataError(
                "ImageData.images must be a float32 numpy array of shape (N, C, H, W); got "
                f"{_describe(images)}. Convert with np.asarray(images, dtype=np.float32)."
            )
        if images.shape[1] not in (1, 3):
            raise DataError(
                f"ImageData.images has {images.shape[1]} channels (shape {images.shape}); "
                "images need 1 (grayscale) or 3 (RGB) channels in axis 1."
            )
        if images.shape[2] != images.shape[3]:
            raise DataError(
                f"ImageData.images are {images.shape[2]}x{images.shape[3]}; images must be square "
                "(resize them, e.g. load_image_folder(path, size=...))."
            )
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
            raise DataError(
                "ImageData.labels must be an int64 numpy array of shape (N,); got "
                f"{_describe(labels)}."
            )
        if len(labels) != len(images):
            raise DataError(
                f"ImageData has {len(images)} images but {len(labels)} labels; "
                "give one label per image."
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.label_names)):
            raise DataError(
                "ImageData.labels must be indices into label_names "
                f"(0..{len(self.label_names) - 1}); "
                f"got values from {labels.min()} to {labels.max()}."
            )
        if self.prompts is not None and len(self.prompts) != len(images):
            raise DataError(
                f"ImageData has {len(images)} images but {len(self.prompts)} prompts; "
                "give one prompt per image."
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        """Side length in pixels (images are square)."""
        return int(self.images.shape[2])

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageData:
        """The images at `indices`, keeping every label name so label indices stay comparable."""
        index = np.asarray(indices, dtype=np.int64)
        prompts = None if self.prompts is None else tuple(self.prompts[i] for i in index)
        return ImageData(
            self.images[index], self.labels[index], self.label_names, self.source, prompts
        )

    def with_prompts(self, prompts: Sequence[str]) -> ImageData:
        """The same images with one prompt per image."""
        return ImageData(
            self.images, self.labels, self.label_names, self.source, tuple(map(str, prompts))
        )

    def prompt_pairs(self) -> list[tuple[str, str]]:
        """The distinct (prompt, label name) pairs the images carry, by label order then prompt;
        empty without prompts."""
        if self.prompts is None:
            return []
        labelled = zip(self.prompts, self.labels.tolist(), strict=True)
        pairs = set(labelled)
        return [(p, self.label_names[i]) for p, i in sorted(pairs, key=lambda pair: pair[::-1])]

    def fingerprint(self) -> str:
        """sha256 of the pixels, labels, label names and prompts (image order matters), for
        lineage and the model cache."""
        digest = hashlib.sha256()
        digest.update(repr((self.images.shape, self.label_names)).encode())
        digest.update(np.ascontiguousarray(self.images).tobytes())
        digest.update(np.ascontiguousarray(self.labels).tobytes())
        if self.prompts is not None:  # unprompted data keeps the fingerprints it always had
            digest.update(repr(self.prompts).encode())
        return digest.hexdigest()


def balanced_labels(n: int, label_names: Sequence[str]) -> pd.DataFrame:
    """A `conditions` frame asking for `n` images spread evenly over `label_names`.

    Labels cycle in the given order, so class counts differ by at most one.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"balanced_labels(n=...) needs a positive integer; got {n!r}.")
    names = [str(name) for name in label_names]
    if not names:
        raise ConfigError("balanced_labels needs at least one label name; got none.")
    return pd.DataFrame({"label": [names[i % len(names)] for i in range(n)]})


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
