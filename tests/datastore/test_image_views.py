"""The imagefolder view of image versions: its metadata.jsonl carries the parts' columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.image_parts import IMAGE_SCHEMA, image_records
from core.images import ImageData
from datastore.images import write_imagefolder
from modalities.image import ImageModality, image_frame
from modalities.provenance import with_provenance


def _images(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    data = ImageData(rng.random((count, 1, 8, 8), dtype=np.float32), labels, ["0", "1"])
    return image_frame(data)


def _metadata(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]


def test_write_imagefolder_generated_images_are_marked_synthetic(tmp_path):
    # Setup: the parts of a generation version, as flows/generate.py writes them
    part = tmp_path / "part-00000.parquet"
    records = image_records(_images(4, seed=0), seed=7, first_index=0)
    pq.write_table(pa.Table.from_pandas(records, schema=IMAGE_SCHEMA, preserve_index=False), part)
    folder = tmp_path / "images"
    folder.mkdir()

    # Run
    count = write_imagefolder([part], folder)

    # Assert
    metadata = _metadata(folder)
    assert count == len(metadata) == 4
    assert [m["is_synthetic"] for m in metadata] == [True] * 4
    assert [m["seed"] for m in metadata] == [7] * 4
    assert [m["sample_id"] for m in metadata] == list(records["sample_id"])
    assert all((folder / m["file_name"]).is_file() for m in metadata)


def test_write_imagefolder_augmented_images_keep_their_provenance(tmp_path):
    # Setup: an augmented version, real records first, then synthetic ones
    schema = ImageModality().augment_schema(None)
    real = with_provenance(
        image_records(_images(2, seed=1), seed=0, first_index=0),
        real_index=[10, 11],
        generator=None,
        seed=None,
        first_index=0,
    )
    synthetic = with_provenance(
        image_records(_images(3, seed=2), seed=5, first_index=2),
        real_index=None,
        generator="vae",
        seed=5,
        first_index=2,
    )
    parts = [tmp_path / "part-00000.parquet", tmp_path / "part-00001.parquet"]
    for frame, part in zip((real, synthetic), parts, strict=True):
        pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), part)
    folder = tmp_path / "images"
    folder.mkdir()

    # Run
    write_imagefolder(parts, folder)

    # Assert
    metadata = _metadata(folder)
    assert [m["is_synthetic"] for m in metadata] == [False, False, True, True, True]
    assert [m["real_index"] for m in metadata] == [10, 11, None, None, None]
    assert [m["generator"] for m in metadata] == [None, None, "vae", "vae", "vae"]
    assert [m["sample_index"] for m in metadata] == [0, 1, 2, 3, 4]


def test_imagefolder_view_shows_is_synthetic_to_hugging_face_datasets(tmp_path):
    # Setup
    datasets = pytest.importorskip("datasets")  # in the dev extra; optional for users
    part = tmp_path / "part-00000.parquet"
    records = image_records(_images(4, seed=3), seed=0, first_index=0)
    pq.write_table(pa.Table.from_pandas(records, schema=IMAGE_SCHEMA, preserve_index=False), part)
    folder = tmp_path / "images"
    folder.mkdir()
    write_imagefolder([part], folder)

    # Run
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(folder), cache_dir=str(tmp_path / "cache"), split="train"
    )

    # Assert
    assert loaded["is_synthetic"] == [True] * 4
    assert sorted(loaded["sample_id"]) == sorted(records["sample_id"])
