"""Views of an image version beside its Parquet parts: an imagefolder tree that
`datasets.load_dataset("imagefolder", ...)` reads, and a sample grid. The parts' row format is
`core.image_parts`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.image_parts import decode_png, iter_image_rows

IMAGEFOLDER_DIR = "images"
GRID_FILE = "grid.png"


def write_imagefolder(parts: Sequence[str | Path], directory: Path) -> int:
    """The imagefolder view: `<directory>/<label>/<sample_id>.png` and a `metadata.jsonl` whose
    `file_name` is relative to it (what `datasets.load_dataset("imagefolder", ...)` expects),
    then every other column of the parts and `is_synthetic`, so both views carry the same
    columns."""
    count = 0
    with open(directory / "metadata.jsonl", "w") as metadata:
        for row in iter_image_rows(parts):
            image = row.pop("image")
            path = directory / image["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image["bytes"])
            # Augmented versions mix real and synthetic images and say which per row; the parts
            # of a generation version (`core.image_parts.image_schema`) hold generated images only.
            record = {"file_name": image["path"], **row}
            record.setdefault("is_synthetic", True)
            metadata.write(json.dumps(record) + "\n")
            count += 1
    return count


def sample_grid(parts: Sequence[str | Path], per_label: int = 10, scale: int = 4) -> bytes:
    """A PNG grid: one row per label (sorted), up to `per_label` images each, upscaled `scale`x."""
    from PIL import Image

    rows: dict[str, list[np.ndarray]] = {}
    for row in iter_image_rows(parts):
        picked = rows.setdefault(row["label"] or "", [])
        if len(picked) < per_label:
            picked.append(decode_png(row["image"]["bytes"]))
    first = next(iter(rows.values()))[0]
    height, width, channels = first.shape
    canvas = np.full(
        (len(rows) * (height + 1), per_label * (width + 1), channels), 255, dtype=np.uint8
    )
    for r, label in enumerate(sorted(rows)):
        for c, image in enumerate(rows[label]):
            y, x = r * (height + 1), c * (width + 1)
            canvas[y : y + height, x : x + width] = image
    pixels = canvas[..., 0] if channels == 1 else canvas
    grid = Image.fromarray(pixels).resize(
        (canvas.shape[1] * scale, canvas.shape[0] * scale), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return buffer.getvalue()
