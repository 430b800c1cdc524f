"""The imagefolder view of image versions: its metadata.jsonl carries the parts' columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import DataError
from core.image_parts import image_records, image_schema, iter_image_rows
from core.images import ImageData
from datastore.images import write_imagefolder
from modalities.image import ImageModality, image_frame
from modalities.provenance import with_provenance
from sources.images import load_image_parquet

LABELS = ["0", "1"]


def _images(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    data = ImageData(rng.random((count, 1, 8, 8), dtype=np.float32), labels, LABELS)
    return image_frame(data)


def _metadata(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]


def test_write_imagefolder_generated_images_are_marked_synthetic(tmp_path):
    # Setup: the parts of a generation version, as flows/generate.py writes them
    part = tmp_path / "part-00000.parquet"
    records = image_records(_images(4, seed=0), label_names=LABELS, seed=7, first_index=0)
    pq.write_table(
        pa.Table.from_pandas(records, schema=image_schema(LABELS), preserve_index=False), part
    )
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
    schema = ImageModality().augment_schema(
        ImageData(np.zeros((1, 1, 8, 8), np.float32), np.zeros(1, np.int64), LABELS)
    )
    real = with_provenance(
        image_records(_images(2, seed=1), label_names=LABELS, seed=0, first_index=0),
        real_index=[10, 11],
        generator=None,
        seed=None,
        first_index=0,
    )
    synthetic = with_provenance(
        image_records(_images(3, seed=2), label_names=LABELS, seed=5, first_index=2),
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
    records = image_records(_images(4, seed=3), label_names=LABELS, seed=0, first_index=0)
    pq.write_table(
        pa.Table.from_pandas(records, schema=image_schema(LABELS), preserve_index=False), part
    )
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


def test_image_parts_label_is_a_class_label_for_hugging_face_datasets(tmp_path):
    # Setup
    datasets = pytest.importorskip("datasets")
    records = image_records(_images(4, seed=4), label_names=LABELS, seed=0, first_index=0)
    part = tmp_path / "part-00000.parquet"
    pq.write_table(
        pa.Table.from_pandas(records, schema=image_schema(LABELS), preserve_index=False), part
    )

    # Run
    loaded = datasets.load_dataset(
        "parquet", data_files=str(part), cache_dir=str(tmp_path / "cache"), split="train"
    )

    # Assert
    assert loaded.features["label"].names == LABELS
    assert loaded.features["label"].int2str(loaded["label"]) == ["0", "1", "0", "1"]


def test_parts_with_string_labels_still_read_as_class_names(tmp_path):
    # Setup: a part written before labels were ClassLabels (label: string, no class names)
    records = image_records(_images(3, seed=5), label_names=LABELS, seed=0, first_index=0)
    records["label"] = [LABELS[i] for i in records["label"]]
    part = tmp_path / "part-00000.parquet"
    pq.write_table(pa.Table.from_pandas(records, preserve_index=False), part)

    # Run
    labels = [row["label"] for row in iter_image_rows([part])]
    loaded = load_image_parquet(part)

    # Assert
    assert labels == ["0", "1", "0"]
    assert loaded.label_names == LABELS and loaded.labels.tolist() == [0, 1, 0]


def test_a_sampled_label_outside_the_classes_is_a_data_error():
    # Run / Assert
    with pytest.raises(DataError, match=r"Sampled label\(s\) \['7'\]"):
        image_records(
            pd.DataFrame({"image": [np.zeros((8, 8, 1), np.uint8)], "label": ["7"]}),
            label_names=LABELS,
            seed=0,
            first_index=0,
        )
