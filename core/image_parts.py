"""The row format of an image dataset's Parquet parts: one row per image, in the layout Hugging
Face `datasets` reads as an Image feature (`image` = struct {bytes: PNG, path}). Readers need only
pyarrow + Pillow (or `datasets.load_dataset("parquet", ...)`).

Shared by the code that writes image parts, the `datastore.images` views and the validators that
read them, so it sits in the bottom layer.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Hugging Face `datasets` reads a column as an Image feature when the Parquet schema says so.
HF_FEATURES = {
    "image": {"_type": "Image"},
    "label": {"dtype": "string", "_type": "Value"},
    "sample_id": {"dtype": "string", "_type": "Value"},
    "seed": {"dtype": "int64", "_type": "Value"},
    "sample_index": {"dtype": "int64", "_type": "Value"},
}
IMAGE_SCHEMA = pa.schema(
    [
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("label", pa.string()),
        ("sample_id", pa.string()),  # sha256 of the PNG bytes
        ("seed", pa.int64()),  # the seed of the shard that drew the image
        ("sample_index", pa.int64()),  # position in the whole version, 0-based
    ],
    metadata={"huggingface": json.dumps({"info": {"features": HF_FEATURES}})},
)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image `(H, W, C)` with C = 1 (grayscale) or 3 (RGB)."""
    from PIL import Image

    pixels = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """A uint8 image `(H, W, C)` from PNG bytes."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(data)))
    return pixels[..., None] if pixels.ndim == 2 else pixels


def image_records(frame: pd.DataFrame, *, seed: int, first_index: int) -> pd.DataFrame:
    """Rows of IMAGE_SCHEMA for a sampled frame of `image` (uint8 arrays) and `label`."""
    pngs = [encode_png(image) for image in frame["image"]]
    ids = [hashlib.sha256(png).hexdigest() for png in pngs]
    # An unconditional model samples no label: null in Parquet, "unlabelled/" as a folder.
    labels = [None if label is None else str(label) for label in frame["label"]]
    return pd.DataFrame(
        {
            "image": [
                {"bytes": png, "path": f"{label or 'unlabelled'}/{sample_id}.png"}
                for png, label, sample_id in zip(pngs, labels, ids, strict=True)
            ],
            "label": labels,
            "sample_id": ids,
            "seed": seed,
            "sample_index": np.arange(first_index, first_index + len(frame), dtype=np.int64),
        }
    )


def iter_image_rows(parts: Iterable[str | Path]) -> Iterable[dict]:
    """Rows of image part files, one part in memory at a time."""
    for part in parts:
        yield from pq.read_table(part).to_pylist()
