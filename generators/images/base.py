"""What every image family shares: the training config, the checks on the training images, label
conditions, seeded batched sampling into a frame of uint8 images, and the saved data spec.

Families implement `_train`, `_generate`, `_save_weights` and `_load_weights`; torch is imported
inside methods so that importing `generators` stays light.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from core.errors import ConfigError, DataError, NotFittedError
from core.images import ImageData
from generators.base import Generator, GeneratorConfig
from generators.device import DeviceName, cpu_threads_field, resolve_device, torch_threads
from generators.seeding import derive_seed

if TYPE_CHECKING:
    import torch

SPEC_FILE = "image_spec.json"
IMAGE_COLUMNS = ["image", "label"]
# derive_seed keys, so label draws and noise draws never share a stream.
LABEL_STREAM, NOISE_STREAM = 0, 1


class ImageGeneratorConfig(GeneratorConfig):
    """Training and sampling settings common to every image family."""

    conditional: bool = Field(
        False, description="Learn images per label so sample() can be asked for given labels."
    )
    steps: int = Field(2000, ge=1, description="Optimizer steps (one batch each) to train for.")
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="'cosine': anneal every learning rate to ~0 by the last step."
    )
    warmup_steps: int = Field(0, ge=0, description="Linear learning-rate warm-up over N steps.")
    device: DeviceName = Field("auto", description="'auto' (cuda if present), 'cpu' or 'cuda'.")
    cpu_threads: int | None = cpu_threads_field()
    mixed_precision: Literal["no", "bf16"] = Field(
        "no", description="'bf16': bfloat16 autocast on CUDA; ignored on CPU."
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="Write a checkpoint every N steps (and at the last step)."
    )
    checkpoint_dir: str | None = Field(
        None, description="Where checkpoints go; fit resumes from the latest one found there."
    )
    sample_batch_size: int = Field(256, ge=1, description="Images generated per forward pass.")
    verbose: bool = Field(True, description="Show a progress bar with the loss while fitting.")

    # Fields that steer a run, not what is learned (see GeneratorConfig). `steps` is not one:
    # it shapes the model (a resumed run may raise it, see training.Checkpoints).
    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "device",
            "cpu_threads",
            "mixed_precision",
            "checkpoint_every",
            "checkpoint_dir",
            "sample_batch_size",
            "verbose",
        }
    )

    @model_validator(mode="after")
    def _checkpoints_need_a_dir(self) -> ImageGeneratorConfig:
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError(
                f"checkpoint_every={self.checkpoint_every} needs checkpoint_dir (a folder to "
                "write checkpoints to)."
            )
        return self


@dataclass(frozen=True)
class ImageSpec:
    """What a fitted image generator remembers of its training images (saved as image_spec.json)."""

    label_names: list[str]
    label_counts: list[int]
    channels: int
    size: int
    # Text-to-image: the distinct (prompt, label) pairs learned, which a captions job draws.
    prompts: list[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        if self.prompts is not None:  # JSON gives lists; equality wants the tuples `of` makes
            object.__setattr__(self, "prompts", [tuple(pair) for pair in self.prompts])

    @classmethod
    def of(cls, data: ImageData) -> ImageSpec:
        counts = np.bincount(data.labels, minlength=data.num_classes)
        prompts = data.prompt_pairs() if data.prompts is not None else None
        return cls(list(data.label_names), counts.tolist(), data.channels, data.size, prompts)


class ImageGeneratorBase(Generator):
    """What every image family shares: it fits an `ImageData` on a resolved device, keeps the data
    spec beside its weights, and draws images in seeded batches (`_generate_batches`).

    `ImageGenerator` (class labels) and `prompted.PromptedImageGenerator` (text prompts) say what
    a sample is conditioned on and which columns it returns.
    """

    config: ImageGeneratorConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self.spec: ImageSpec | None = None
        self.device = "cpu"
        self._training_info: dict[str, Any] = {}

    # ---- what lineage records -------------------------------------------------------------------
    def training_info(self) -> dict[str, Any]:
        """How the last `fit` ran: steps, resumed_from_step, device, mixed_precision, losses."""
        return dict(self._training_info)

    def sampling_info(self) -> dict[str, Any]:
        """How `sample` draws images (sampler, step count); empty for one-pass families."""
        return {}

    # ---- Generator hooks ------------------------------------------------------------------------
    def _check_real(self, real: Any) -> None:
        if not isinstance(real, ImageData):
            raise DataError(
                f"Generator {self.name!r} fits an ImageData (see sources.images); "
                f"got {type(real).__name__}."
            )
        if len(real) < 2:
            raise DataError(
                f"The training data has {len(real)} image(s); at least 2 are needed to learn from."
            )
        finite = np.isfinite(real.images)
        if not finite.all():
            first = int(np.argwhere(~finite)[0][0])
            raise DataError(
                f"{int((~finite).sum())} pixel value(s) are NaN or infinite (the first in image "
                f"{first}); fix or drop those images before fitting."
            )
        low, high = float(real.images.min()), float(real.images.max())
        if low < 0 or high > 1:
            raise DataError(
                f"Pixel values must lie in [0, 1]; got values from {low:g} to {high:g}. "
                "Scale 8-bit images by 1/255."
            )
        present = [real.label_names[i] for i in np.unique(real.labels)]
        if self.config.conditional and len(present) < 2:
            raise DataError(
                f"conditional: true needs images of at least 2 labels; the training data has only "
                f"{present}. Set conditional: false or add images of other labels."
            )
        self._check_size(real.size)

    def _check_size(self, size: int) -> None:
        """The stride-2 networks halve the side down to 4x4, so it must be a power of two >= 8."""
        if size < 8 or size & (size - 1):
            power = max(8, 1 << (size - 1).bit_length())
            raise DataError(
                f"Generator {self.name!r} needs square images whose side is a power of two of at "
                f"least 8; got {size}x{size}. Resize the source, e.g. size={power}."
            )

    def _fit(self, real: ImageData, *, seed: int) -> None:
        self.spec = ImageSpec.of(real)
        self.device = resolve_device(self.config.device)
        with torch_threads(self.config.cpu_threads):
            self._training_info = self._train(real, seed=seed)

    def _save(self, directory: Path) -> None:
        (directory / SPEC_FILE).write_text(json.dumps(asdict(self.spec), indent=2))
        self._save_weights(directory)

    def _load(self, directory: Path) -> None:
        spec_path = directory / SPEC_FILE
        if not spec_path.is_file():
            raise DataError(f"{spec_path} does not exist: {directory} holds no image generator.")
        self.spec = ImageSpec(**json.loads(spec_path.read_text()))
        self.device = resolve_device(self.config.device)
        self._load_weights(directory)

    # ---- batched generation ---------------------------------------------------------------------
    def _generate_batches(
        self, n: int, seed: int, generate: Callable[[slice, torch.Generator], torch.Tensor]
    ) -> np.ndarray:
        """`n` images `(n, H, W, C)` uint8; `generate(rows, rng)` draws images `(B, C, H, W)` in
        [0, 1] for the rows `rows` of the sample, taking every random draw from `rng`."""
        import torch

        spec, batch = self.spec, self.config.sample_batch_size
        out = np.empty((n, spec.size, spec.size, spec.channels), dtype=np.uint8)
        with torch.inference_mode():
            for index, start in enumerate(range(0, n, batch)):
                stop = min(start + batch, n)
                # Noise is drawn on the CPU from a seed per batch: the same seed gives the same
                # starting noise on every device.
                rng = torch.Generator().manual_seed(derive_seed(seed, NOISE_STREAM, index))
                images = generate(slice(start, stop), rng)  # (B, C, H, W) in [0, 1]
                pixels = images.float().clamp(0, 1).mul(255).round().to(torch.uint8)
                out[start:stop] = pixels.permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, C)
        return out

    # ---- what a family implements ---------------------------------------------------------------
    @abstractmethod
    def _train(self, data: ImageData, *, seed: int) -> dict[str, Any]:
        """Build and train the networks on `self.device`; return the training loop's info."""

    @abstractmethod
    def _save_weights(self, directory: Path) -> None: ...

    @abstractmethod
    def _load_weights(self, directory: Path) -> None: ...


class ImageGenerator(ImageGeneratorBase):
    """Base of the class-label families: samples a frame of `image` + `label`.

    Families that set `starts_from_images` also `vary(images, labels, strength=, seed=, masks=)`:
    each real image noised to `strength` and denoised under its label (image-to-image), or,
    with masks, only its masked pixels regenerated (inpainting).

    `sample(n, seed=, conditions=)` returns `image` as uint8 arrays of shape (H, W, C) and `label`
    as label names (None for an unconditional model). Conditions name the `label` column only:
    `{"label": "3"}` for every row, or a frame with one label per row (see `balanced_labels`).
    A conditional model sampled without conditions draws labels with the training frequencies.
    """

    modality = "image"
    # Whether `vary` works: the families that denoise from a noised real image implement `_vary`.
    starts_from_images: ClassVar[bool] = False

    def _output_columns(self, real: Any) -> list[str]:
        return list(IMAGE_COLUMNS)

    def _sample(self, n: int, *, seed: int, conditions: pd.DataFrame | None) -> pd.DataFrame:
        labels = self._sample_labels(n, seed, conditions)  # (n,) class indices, or None
        with torch_threads(self.config.cpu_threads):
            images = self._generate_images(n, labels, seed)  # (n, H, W, C) uint8
        names = [None] * n if labels is None else [self.spec.label_names[i] for i in labels]
        return pd.DataFrame({"image": list(images), "label": names})

    def _generate_images(self, n: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
        import torch

        def generate(rows: slice, rng: torch.Generator) -> torch.Tensor:
            y = None if labels is None else torch.from_numpy(labels[rows]).to(self.device)
            return self._generate(rows.stop - rows.start, y, rng)

        return self._generate_batches(n, seed, generate)

    def _sample_labels(
        self, n: int, seed: int, conditions: pd.DataFrame | None
    ) -> np.ndarray | None:
        names = self.spec.label_names
        if conditions is None:
            if not self.config.conditional:
                return None
            counts = np.asarray(self.spec.label_counts, dtype=np.float64)
            rng = np.random.default_rng(derive_seed(seed, LABEL_STREAM))
            return rng.choice(len(names), size=n, p=counts / counts.sum()).astype(np.int64)
        if not self.config.conditional:
            raise ConfigError(
                f"Generator {self.name!r} was fitted with conditional: false, so it cannot follow "
                f"conditions on {list(conditions.columns)}; refit it with conditional: true."
            )
        other = [str(c) for c in conditions.columns if c != "label"]
        if other:
            raise DataError(
                f"Image generators take only 'label' as a condition; got column(s) {other}."
            )
        # Labels are names; compare as strings so a YAML `label: 3` matches the name "3".
        wanted = conditions["label"].map(str)
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise DataError(f"Unknown label(s) {unknown} in conditions; known labels: {names}.")
        index = {name: i for i, name in enumerate(names)}
        return wanted.map(index).to_numpy(dtype=np.int64)

    @abstractmethod
    def _generate(self, n: int, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        """`n` images `(n, C, H, W)` in [0, 1] for class indices `labels` `(n,)` (None when
        unconditional), with every random draw taken from the CPU generator `rng`."""

    # ---- starting from real images ------------------------------------------------------------
    def vary(
        self,
        images: np.ndarray,
        labels: Sequence[str] | None,
        *,
        strength: float,
        seed: int,
        masks: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """A variation of each real image: `images` float32 `(n, C, H, W)` in [0, 1] noised to
        `strength` (0: the image itself, 1: pure noise, so a plain sample) and denoised under its
        label from `labels`; `masks` bool `(n, H, W)`, True where pixels are regenerated (the
        rest is kept). Returns the frame `sample` returns, row i the variation of image i."""
        if not self.fitted:
            raise NotFittedError(f"Generator {self.name!r} is not fitted; fit or load it first.")
        if not self.starts_from_images:
            raise ConfigError(
                f"Generator {self.name!r} cannot start from real images (augment.init); use a "
                "diffusion generator: ddpm."
            )
        if isinstance(strength, bool) or not 0 <= strength <= 1:
            raise ConfigError(f"strength must lie in [0, 1]; got {strength!r}.")
        spec = self.spec
        expected = (spec.channels, spec.size, spec.size)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise DataError(
                f"vary() needs images of shape (n, {spec.channels}, {spec.size}, {spec.size}) like "
                f"the training images; got {images.shape}. Resize the source to {spec.size}."
            )
        n = len(images)
        if masks is not None and masks.shape != (n, spec.size, spec.size):
            raise DataError(
                f"The masks have shape {masks.shape}, but {n} image(s) of "
                f"{spec.size}x{spec.size} need masks of shape ({n}, {spec.size}, {spec.size}); "
                "resize the masks to the images."
            )
        conditions = None if labels is None else pd.DataFrame({"label": list(labels)})
        index = self._sample_labels(n, seed, conditions)  # (n,) class indices, or None
        names = [None] * n if index is None else [spec.label_names[i] for i in index]

        import torch

        def generate(rows: slice, rng: torch.Generator) -> torch.Tensor:
            x0 = torch.from_numpy(np.ascontiguousarray(images[rows], dtype=np.float32))
            if strength == 0:
                return x0
            y = None if index is None else torch.from_numpy(index[rows]).to(self.device)
            m = None if masks is None else torch.from_numpy(masks[rows, None].astype(np.float32))
            return self._vary(x0.to(self.device), m, y, strength, rng)

        with torch_threads(self.config.cpu_threads):
            out = self._generate_batches(n, seed, generate)  # (n, H, W, C) uint8
        return pd.DataFrame({"image": list(out), "label": names})

    def _vary(
        self,
        images: torch.Tensor,
        masks: torch.Tensor | None,
        labels: torch.Tensor | None,
        strength: float,
        rng: torch.Generator,
    ) -> torch.Tensor:
        """Variations `(B, C, H, W)` in [0, 1] of `images` `(B, C, H, W)` in [0, 1], regenerating
        only where `masks` `(B, 1, H, W)` is 1 (None: everywhere)."""
        raise NotImplementedError  # unreachable: vary() checks starts_from_images first
