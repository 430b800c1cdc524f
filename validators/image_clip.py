"""Image features from a user's local CLIP vision weights (`validation.feature_extractor: {path:
<folder>}`), in place of the in-project CNN's for FD, KID, PRDC and feature-space memorisation.

The folder is what transformers' `save_pretrained` writes for a `CLIPVisionModel` (or a whole
`CLIPModel`, whose vision tower is used): `config.json` and `model.safetensors` (or
`pytorch_model.bin`), optionally `preprocessor_config.json` with the normalisation. It is loaded
with `local_files_only=True`, so nothing is downloaded. Features are the pooled output
(`pooler_output`, the post-layernorm CLS token, D = `hidden_size`) of images resized to the
model's `image_size` (bicubic, antialiased), grayscale repeated to 3 channels, normalised with the
processor's mean and std (CLIP's own when the folder has none). It runs on CUDA when there is
one, else on the CPU with the process's torch threads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import ConfigError

if TYPE_CHECKING:
    from validators.image_quality import FeatureInfo

CONFIG_FILE, PROCESSOR_FILE = "config.json", "preprocessor_config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CLIP_TYPES = ("clip_vision_model", "clip")  # a CLIPModel folder loads its vision tower
# OpenAI CLIP's normalisation, used when the folder has no preprocessor_config.json.
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
LAYER = "pooler_output"
BATCH = 64
FIX = (
    "point validation.feature_extractor.path at a folder written by "
    "CLIPVisionModel.save_pretrained (config.json and model.safetensors)"
)


@dataclass(frozen=True)
class ClipFeatures:
    """A loaded CLIP vision tower (eval mode) and its input preprocessing."""

    model: Any  # transformers.CLIPVisionModel (transformers loads lazily)
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def features(self, images: np.ndarray) -> np.ndarray:
        """Pooled features `(N, D)` float64 of float32 images `(N, C, H, W)` in [0, 1]."""
        import torch
        import torch.nn.functional as F

        device = next(self.model.parameters()).device
        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, 3, 1, 1)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(images), BATCH):
                batch = torch.as_tensor(images[start : start + BATCH], device=device)
                if batch.shape[1] == 1:
                    batch = batch.expand(-1, 3, -1, -1)
                batch = F.interpolate(
                    batch, size=self.image_size, mode="bicubic", antialias=True, align_corners=False
                ).clamp(0, 1)
                output = self.model(pixel_values=(batch - mean) / std)
                outputs.append(output.pooler_output.double().cpu().numpy())
        return np.concatenate(outputs)


def load_clip_extractor(path: str | Path) -> tuple[ClipFeatures, FeatureInfo]:
    """The CLIP vision model in the local folder `path` and what identifies it; a missing or
    incompatible folder is a ConfigError naming the file and the fix."""
    import torch
    from transformers import CLIPVisionModel

    from validators.image_quality import FeatureInfo  # it imports this module lazily

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"validation.feature_extractor.path {folder} is not a folder; {FIX}.")
    config = _read_json(folder / CONFIG_FILE)
    model_type = config.get("model_type")
    if model_type not in CLIP_TYPES:
        raise ConfigError(
            f"{folder / CONFIG_FILE} describes a {model_type!r} model, not a CLIP vision model "
            f"(model_type one of {list(CLIP_TYPES)}); {FIX}."
        )
    weights = next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    if weights is None:
        raise ConfigError(
            f"{folder} has no weights file ({' or '.join(WEIGHT_FILES)}); {FIX}, or copy the "
            "weights beside its config.json."
        )
    from safetensors import SafetensorError  # installed with transformers

    try:
        model, loading = CLIPVisionModel.from_pretrained(
            folder, local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as exc:
        raise ConfigError(
            f"{weights} could not be loaded as a CLIPVisionModel ({type(exc).__name__}: {exc}); "
            f"{FIX}."
        ) from exc
    # transformers fills weights the file lacks with random values; such features mean nothing.
    missing = sorted(loading["missing_keys"])
    if missing:
        raise ConfigError(
            f"{weights} lacks {len(missing)} of the CLIP vision weights (first: {missing[0]}); "
            f"{FIX}."
        )
    model = model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    processor = _read_json(folder / PROCESSOR_FILE) if (folder / PROCESSOR_FILE).is_file() else {}
    features = ClipFeatures(
        model=model,
        image_size=int(model.config.image_size),
        mean=tuple(processor.get("image_mean", CLIP_MEAN)),
        std=tuple(processor.get("image_std", CLIP_STD)),
    )
    info = FeatureInfo(
        kind="clip",
        name=f"clip-vision:{folder.name}",
        layer=LAYER,
        dim=int(model.config.hidden_size),
        sha256=_sha256(weights),
        path=str(folder.resolve()),
    )
    return features, info


def _read_json(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise ConfigError(f"{file} is missing; {FIX}.")
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file} is not readable JSON ({exc}); {FIX}.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file} holds {type(data).__name__}, not a JSON object; {FIX}.")
    return data


def _sha256(file: Path) -> str:
    """sha256 of `file`, read in chunks (CLIP weights run to hundreds of MiB)."""
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
