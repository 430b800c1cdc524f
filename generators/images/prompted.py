"""What every text-to-image family shares: images drawn for text prompts, in seeded batches.

`sample(n, seed=, conditions=)` takes one `prompt` per row (a frame, or a mapping for every row),
optionally with the `label` (class name) each prompt stands for, and returns `image`, `label`,
`prompt` and `guidance_scale` per row, so a version records what every image was asked for.
Families implement `_generate_prompted` (plus the fitting and saving hooks of the image base).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from core.errors import ConfigError, DataError
from core.images import ImageData
from generators.device import torch_threads
from generators.images.base import ImageGeneratorBase, ImageGeneratorConfig

if TYPE_CHECKING:
    import torch

PROMPTED_COLUMNS = ["image", "label", "prompt", "guidance_scale"]
CONDITION_COLUMNS = ("prompt", "label")


def index_by_prompt(data: ImageData) -> tuple[ImageData, list[str]]:
    """The images with each one's label replaced by its prompt's index into the sorted distinct
    prompts, so a training loop that hands out labels picks rows of one prompt-token table."""
    assert data.prompts is not None
    prompts = sorted(set(data.prompts))
    position = {prompt: i for i, prompt in enumerate(prompts)}
    index = np.array([position[p] for p in data.prompts], dtype=np.int64)
    return ImageData(data.images, index, prompts, data.source), prompts


class PromptedImageConfig(ImageGeneratorConfig):
    guidance_scale: float = Field(
        3.0, ge=0, description="Classifier-free guidance at sample time; <= 1: none."
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = ImageGeneratorConfig.RUN_FIELDS | {"guidance_scale"}


class PromptedImageGenerator(ImageGeneratorBase):
    """Base of the text-to-image families (modality `prompted_image`)."""

    modality = "prompted_image"
    config: PromptedImageConfig

    def _output_columns(self, real: Any) -> list[str]:
        return list(PROMPTED_COLUMNS)

    def _sample(self, n: int, *, seed: int, conditions: pd.DataFrame | None) -> pd.DataFrame:
        prompts, labels = self._prompts_of(conditions)
        with torch_threads(self.config.cpu_threads):
            images = self._generate_batches(
                n, seed, lambda rows, rng: self._generate_prompted(prompts[rows], rng)
            )
        return pd.DataFrame(
            {
                "image": list(images),
                "label": labels,
                "prompt": prompts,
                "guidance_scale": [float(self.config.guidance_scale)] * n,
            }
        )

    def _prompts_of(self, conditions: pd.DataFrame | None) -> tuple[list[str], list[str | None]]:
        """One prompt and one label (or None) per row, from the conditions frame."""
        if conditions is None or "prompt" not in conditions.columns:
            raise ConfigError(
                f"Generator {self.name!r} draws images for text prompts: pass conditions with a "
                "'prompt' column (one per image), e.g. a job's `prompts:` templates "
                '(`"a photo of a {label}"`) or a captions column of the source.'
            )
        other = [str(c) for c in conditions.columns if c not in CONDITION_COLUMNS]
        if other:
            raise DataError(
                f"Text-to-image conditions take only {list(CONDITION_COLUMNS)}; got column(s) "
                f"{other}."
            )
        prompts = conditions["prompt"]
        empty = prompts.isna() | (prompts.astype(str).str.strip() == "")
        if empty.any():
            raise DataError(
                f"{int(empty.sum())} prompt(s) are empty (the first in row "
                f"{int(empty.to_numpy().argmax())}); give every image a prompt."
            )
        labels = conditions["label"].map(str) if "label" in conditions else None
        return (
            prompts.astype(str).tolist(),
            [None] * len(prompts) if labels is None else labels.tolist(),
        )

    @abstractmethod
    def _generate_prompted(self, prompts: list[str], rng: torch.Generator) -> torch.Tensor:
        """Images `(len(prompts), C, H, W)` in [0, 1], one per prompt, guided by
        `config.guidance_scale`, with every random draw taken from the CPU generator `rng`."""
