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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import DataError

# Hugging Face `datasets` reads a column as an Image feature, and `label` as a ClassLabel (the
# class index, with the class names in the schema's metadata), when the Parquet schema says so.
HF_FEATURES = {
    "image": {"_type": "Image"},
    "sample_id": {"dtype": "string", "_type": "Value"},
    "seed": {"dtype": "int64", "_type": "Value"},
    "sample_index": {"dtype": "int64", "_type": "Value"},
}
IMAGE_FIELDS = [
    pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    pa.field("label", pa.int64()),  # index into the class names; null for unlabelled samples
    pa.field("sample_id", pa.string()),  # sha256 of the PNG bytes
    pa.field("seed", pa.int64()),  # the seed of the shard that drew the image
    pa.field("sample_index", pa.int64()),  # position in the whole version, 0-based
]


def hf_features(label_names: Sequence[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `datasets` features of image rows whose labels are `label_names` (plus `extra`)."""
    label = {"names": list(label_names), "_type": "ClassLabel"}
    return {**HF_FEATURES, "label": label, **(extra or {})}


def image_schema(
    label_names: Sequence[str],
    extra: Sequence[pa.Field] = (),
    features: dict[str, Any] | None = None,
) -> pa.Schema:
    """The schema of image parts labelled with `label_names`, plus `extra` columns (and their
    `datasets` `features`)."""
    metadata = {
        "huggingface": json.dumps({"info": {"features": hf_features(label_names, features)}})
    }
    return pa.schema([*IMAGE_FIELDS, *extra], metadata=metadata)


def label_names_of(schema: pa.Schema) -> list[str] | None:
    """The class names an image part's schema declares (None: labels stored as strings)."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if raw is None:
        return None
    label = json.loads(raw).get("info", {}).get("features", {}).get("label", {})
    return list(label["names"]) if label.get("_type") == "ClassLabel" else None


def label_column(table: pa.Table) -> list[str | None]:
    """The `label` of every row as its class name, whether stored as a ClassLabel index or (in
    parts written before labels were ClassLabels) as the name itself."""
    values = table.column("label").to_pylist()
    names = label_names_of(table.schema)
    if names is None or not pa.types.is_integer(table.schema.field("label").type):
        return [None if v is None else str(v) for v in values]
    return [None if v is None else names[v] for v in values]


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


def image_records(
    frame: pd.DataFrame, *, label_names: Sequence[str], seed: int, first_index: int
) -> pd.DataFrame:
    """Rows of `image_schema(label_names)` for a sampled frame of `image` (uint8 arrays) and
    `label` (class names)."""
    pngs = [encode_png(image) for image in frame["image"]]
    ids = [hashlib.sha256(png).hexdigest() for png in pngs]
    # An unconditional model samples no label: null in Parquet, "unlabelled/" as a folder.
    labels = [None if label is None else str(label) for label in frame["label"]]
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted({label for label in labels if label is not None} - set(index))
    if unknown:
        raise DataError(
            f"Sampled label(s) {unknown} are not among the classes {list(label_names)}."
        )
    return pd.DataFrame(
        {
            "image": [
                {"bytes": png, "path": f"{label or 'unlabelled'}/{sample_id}.png"}
                for png, label, sample_id in zip(pngs, labels, ids, strict=True)
            ],
            "label": pd.array([None if v is None else index[v] for v in labels], dtype="Int64"),
            "sample_id": ids,
            "seed": seed,
            "sample_index": np.arange(first_index, first_index + len(frame), dtype=np.int64),
        }
    )


def iter_image_rows(parts: Iterable[str | Path]) -> Iterable[dict]:
    """Rows of image part files, one part in memory at a time, `label` as the class name."""
    for part in parts:
        table = pq.read_table(part)
        for row, label in zip(table.to_pylist(), label_column(table), strict=True):
            yield {**row, "label": label}


def is_image_parquet(path: Path) -> bool:
    """Whether `path` (a Parquet file, or a folder of parts) holds image rows of this format."""
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files or files[0].suffix != ".parquet":
        return False
    try:
        return "image" in pq.read_schema(files[0]).names
    except (OSError, pa.ArrowException):  # unreadable: not images; its reader says what is wrong
        return False
