"""Image sources: built-in digits, class folders of PNG/JPEG, Synthpipe's Parquet image layout,
the seeded stratified holdout, and a clear DataError naming the file or class for bad input."""

from __future__ import annotations

import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from core.errors import ConfigError, DataError
from core.images import ImageData
from sources.images import (
    fingerprint,
    load_builtin_images,
    load_digits_images,
    load_image_folder,
    load_image_parquet,
    split_holdout,
)

GRAY = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16  # (4, 4) 0..240
RGB = np.stack([GRAY, 255 - GRAY, np.full((4, 4), 7, np.uint8)], axis=-1)  # (4, 4, 3)


def write_png(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_image_parquet(path, rows: list[tuple[np.ndarray, str | None]]) -> None:
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    images = [{"bytes": png_bytes(p), "path": f"{i}.png"} for i, (p, _) in enumerate(rows)]
    table = pa.table(
        {
            "image": pa.array(images, type=image_type),
            "label": pa.array([label for _, label in rows], type=pa.string()),
        }
    )
    pq.write_table(table, path)


# ---- digits -----------------------------------------------------------------------------------
def test_load_digits_images_shapes_and_labels():
    # Run
    data = load_digits_images()

    # Assert
    assert data.images.shape == (1797, 1, 8, 8) and data.images.dtype == np.float32
    assert data.images.min() == 0 and data.images.max() == 1
    assert data.labels.dtype == np.int64 and data.label_names == [str(d) for d in range(10)]
    assert (data.num_classes, data.channels, data.size, data.source) == (10, 1, 8, "builtin:digits")


@pytest.mark.parametrize("size", [16, 32])
def test_load_digits_images_resize_keeps_range_and_ink(size):
    # Setup
    original = load_digits_images()

    # Run
    resized = load_builtin_images("digits", size=size)

    # Assert
    assert resized.images.shape == (1797, 1, size, size)
    assert resized.images.min() >= 0 and resized.images.max() <= 1
    assert abs(resized.images.mean() - original.images.mean()) < 0.02
    np.testing.assert_array_equal(resized.labels, original.labels)


def test_load_builtin_images_unknown_name_lists_available():
    # Run / Assert
    with pytest.raises(
        DataError,
        match=re.escape(
            "Unknown built-in image dataset 'mnist'; available: "
            "['digits', 'lfw_faces', 'photo_patches']"
        ),
    ):
        load_builtin_images("mnist")


# ---- folders ----------------------------------------------------------------------------------
def test_load_image_folder_grayscale_round_trip(tmp_path):
    # Setup
    write_png(tmp_path / "dog" / "b.png", 255 - GRAY)
    write_png(tmp_path / "cat" / "a.png", GRAY)
    write_png(tmp_path / "cat" / "b.png", GRAY // 2)
    (tmp_path / "metadata.jsonl").write_text("{}\n")  # top-level files are not images

    # Run
    data = load_image_folder(tmp_path, size=4)

    # Assert
    assert data.label_names == ["cat", "dog"]
    assert data.labels.tolist() == [0, 0, 1]
    assert data.images.shape == (3, 1, 4, 4)
    np.testing.assert_allclose(data.images[0, 0], GRAY / 255, atol=1e-6)
    np.testing.assert_allclose(data.images[2, 0], (255 - GRAY) / 255, atol=1e-6)


def test_load_image_folder_rgb_infers_channels_and_resizes(tmp_path):
    # Setup
    write_png(tmp_path / "a" / "1.png", RGB)
    write_png(tmp_path / "b" / "1.png", np.repeat(np.repeat(RGB, 2, axis=0), 2, axis=1))
    Image.fromarray(RGB).save(tmp_path / "b" / "2.jpg", quality=95)

    # Run
    data = load_image_folder(tmp_path, size=4)

    # Assert
    assert data.images.shape == (3, 3, 4, 4) and data.channels == 3
    np.testing.assert_allclose(data.images[0], RGB.transpose(2, 0, 1) / 255, atol=1e-6)
    assert abs(data.images[1].mean() - RGB.mean() / 255) < 0.02


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "has no class subfolders; put each label's images in"),
        (lambda root: (root / "cat").mkdir(parents=True), "Class 'cat'"),
    ],
)
def test_load_image_folder_missing_or_empty_raises(tmp_path, make, message):
    # Setup
    root = tmp_path / "images"
    make(root)

    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        load_image_folder(root, size=4)


def test_load_image_folder_class_without_images_names_it(tmp_path):
    # Setup
    write_png(tmp_path / "cat" / "a.png", GRAY)
    (tmp_path / "dog").mkdir()

    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape(f"Class 'dog' ({tmp_path / 'dog'}) has no images")
    ):
        load_image_folder(tmp_path, size=4)


def test_load_image_folder_non_image_file_names_it(tmp_path):
    # Setup
    write_png(tmp_path / "cat" / "a.png", GRAY)
    (tmp_path / "cat" / "notes.txt").write_text("hello")

    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape(f"{tmp_path / 'cat' / 'notes.txt'} is not a PNG or JPEG")
    ):
        load_image_folder(tmp_path, size=4)


def test_load_image_folder_corrupt_png_names_it(tmp_path):
    # Setup
    write_png(tmp_path / "cat" / "a.png", GRAY)
    (tmp_path / "cat" / "b.png").write_bytes(b"\x89PNG not really")

    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape(f"{tmp_path / 'cat' / 'b.png'} could not be read as an image")
    ):
        load_image_folder(tmp_path, size=4)


def test_load_image_folder_mixed_channels_names_the_file(tmp_path):
    # Setup
    write_png(tmp_path / "cat" / "a.png", GRAY)
    write_png(tmp_path / "dog" / "b.png", RGB)

    # Run / Assert
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{tmp_path / 'dog' / 'b.png'} is RGB (3 channels) but the first image, "
            f"{tmp_path / 'cat' / 'a.png'}, is grayscale (1 channel)"
        ),
    ):
        load_image_folder(tmp_path, size=4)


def test_load_image_folder_fixed_channels_mismatch_names_the_file(tmp_path):
    # Setup
    write_png(tmp_path / "cat" / "a.png", GRAY)

    # Run / Assert
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{tmp_path / 'cat' / 'a.png'} is grayscale (1 channel) but channels=3 was asked for"
        ),
    ):
        load_image_folder(tmp_path, size=4, channels=3)


# ---- parquet ----------------------------------------------------------------------------------
def test_load_image_parquet_round_trip_from_a_folder_of_parts(tmp_path):
    # Setup
    write_image_parquet(tmp_path / "part-00000.parquet", [(GRAY, "7"), (255 - GRAY, "1")])
    write_image_parquet(tmp_path / "part-00001.parquet", [(GRAY // 2, "7")])

    # Run
    data = load_image_parquet(tmp_path)

    # Assert
    assert data.label_names == ["1", "7"]
    assert data.labels.tolist() == [1, 0, 1]
    assert data.images.shape == (3, 1, 4, 4)
    np.testing.assert_allclose(data.images[1, 0], (255 - GRAY) / 255, atol=1e-6)


def test_load_image_parquet_one_rgb_file_resized(tmp_path):
    # Setup
    write_image_parquet(tmp_path / "one.parquet", [(RGB, "a"), (RGB, "b")])

    # Run
    data = load_image_parquet(tmp_path / "one.parquet", size=8)

    # Assert
    assert data.images.shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([(GRAY, None)], "(0.png) has no label"),
        ([(GRAY, "a"), (RGB, "b")], "(1.png) is 4x4 with 3 channel(s), unlike row 0 (4x4 with 1"),
    ],
)
def test_load_image_parquet_bad_rows_name_the_row(tmp_path, rows, message):
    # Setup
    write_image_parquet(tmp_path / "data.parquet", rows)

    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        load_image_parquet(tmp_path / "data.parquet")


def test_load_image_parquet_without_image_column_lists_columns(tmp_path):
    # Setup
    pq.write_table(pa.table({"label": ["a"]}), tmp_path / "data.parquet")

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("lacks column(s) ['image']")):
        load_image_parquet(tmp_path)


def test_load_image_parquet_folder_without_parts_raises(tmp_path):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("holds no .parquet files")):
        load_image_parquet(tmp_path)


# ---- holdout and fingerprint ------------------------------------------------------------------
def test_split_holdout_is_stratified_disjoint_and_complete():
    # Setup
    data = load_digits_images()

    # Run
    train, holdout, indices = split_holdout(data, 0.2, seed=0)

    # Assert
    counts = np.bincount(data.labels)
    assert np.bincount(holdout.labels).tolist() == [round(0.2 * c) for c in counts]
    assert len(train) + len(holdout) == len(data)
    np.testing.assert_array_equal(holdout.images, data.images[indices])
    assert train.label_names == holdout.label_names == data.label_names


def test_split_holdout_same_seed_repeats_other_seed_differs():
    # Setup
    data = load_digits_images()

    # Run
    first, again, other = (split_holdout(data, 0.1, seed=s)[2] for s in (3, 3, 4))

    # Assert
    assert first == again
    assert first != other


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5])
def test_split_holdout_fraction_outside_0_1_raises(fraction):
    # Run / Assert
    with pytest.raises(
        ConfigError,
        match=re.escape(f"holdout fraction must be between 0 and 1 (exclusive); got {fraction}"),
    ):
        split_holdout(load_digits_images(), fraction, seed=0)


def test_split_holdout_keeps_at_least_one_image_per_label_in_training():
    # Setup: one image per label.
    data = load_digits_images().subset(range(10))

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("keeps none of the 10 images out")):
        split_holdout(data, 0.5, seed=0)


def test_fingerprint_changes_with_one_pixel():
    # Setup
    data = load_digits_images().subset(range(20))
    images = data.images.copy()
    images[3, 0, 4, 4] += 0.5 / 16

    # Run
    changed = ImageData(images, data.labels, data.label_names)

    # Assert
    assert fingerprint(data) == fingerprint(data.subset(range(20)))
    assert fingerprint(changed) != fingerprint(data)


# ---- pixel limit and links --------------------------------------------------------------------
def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` grayscale pixels and whose data holds none
    (Pillow reports the size from the header without decoding)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_load_image_folder_refuses_an_image_over_the_default_pixel_limit(tmp_path):
    # Setup: 5000 x 4000 = 20 M pixels in a 2.5 KB 1-bit PNG (the default limit is 4096 x 4096)
    write_png(tmp_path / "a" / "0.png", GRAY)
    (tmp_path / "b").mkdir()
    Image.new("1", (5000, 4000)).save(tmp_path / "b" / "big.png")

    # Run / Assert
    message = r"big\.png is 5000x4000 = 20,000,000 pixels, over the limit of 16,777,216 .*max_image"
    with pytest.raises(DataError, match=message):
        load_image_folder(tmp_path, size=4)


def test_load_image_folder_pixel_limit_is_configurable(tmp_path):
    # Setup
    write_png(tmp_path / "a" / "0.png", GRAY)  # 16 pixels

    # Run / Assert
    assert len(load_image_folder(tmp_path, size=4, max_pixels=16)) == 1
    with pytest.raises(DataError, match=r"0\.png is 4x4 = 16 pixels, over the limit of 15"):
        load_image_folder(tmp_path, size=4, max_pixels=15)


def test_load_image_folder_pillow_decompression_bomb_is_a_data_error(tmp_path):
    # Setup: 20000 x 20000 declared, over twice Pillow's own limit, even with ours raised
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bomb.png").write_bytes(png_declaring(20000, 20000))

    # Run / Assert
    with pytest.raises(DataError, match=r"bomb\.png is refused by Pillow as a decompression bomb"):
        load_image_folder(tmp_path, size=4, max_pixels=10**9)


def test_load_image_parquet_refuses_an_image_over_the_pixel_limit(tmp_path):
    # Setup
    rows = [(GRAY, "a"), (np.zeros((8, 8), np.uint8), "b")]
    write_image_parquet(tmp_path / "images.parquet", rows)

    # Run / Assert
    with pytest.raises(DataError, match=r"row 1 of .*\(1\.png\) is 8x8 = 64 pixels, over"):
        load_image_parquet(tmp_path / "images.parquet", max_pixels=20)


@pytest.mark.parametrize("link", ["class folder", "image file"])
def test_load_image_folder_refuses_links_leading_outside(tmp_path, link):
    # Setup: a source folder, and elsewhere a folder of images a link points to
    source, elsewhere = tmp_path / "source", tmp_path / "elsewhere"
    write_png(source / "a" / "0.png", GRAY)
    write_png(elsewhere / "1.png", GRAY)
    if link == "class folder":
        (source / "stolen").symlink_to(elsewhere, target_is_directory=True)
        name = "stolen"
    else:
        (source / "a" / "1.png").symlink_to(elsewhere / "1.png")
        name = "1.png"

    # Run / Assert
    with pytest.raises(DataError, match=rf"{name} is a link to .*elsewhere.*outside the source"):
        load_image_folder(source, size=4)


def test_load_image_folder_follows_links_inside_the_folder(tmp_path):
    # Setup: a class folder that is a link to a folder inside the source
    write_png(tmp_path / "a" / "0.png", GRAY)
    write_png(tmp_path / ".pool" / "1.png", GRAY)
    (tmp_path / "b").symlink_to(tmp_path / ".pool", target_is_directory=True)

    # Run
    data = load_image_folder(tmp_path, size=4)

    # Assert
    assert data.label_names == ["a", "b"] and len(data) == 2


def test_load_image_parquet_folder_refuses_a_part_linked_from_outside(tmp_path):
    # Setup
    (tmp_path / "data").mkdir()
    write_image_parquet(tmp_path / "data" / "part-0.parquet", [(GRAY, "a")])
    write_image_parquet(tmp_path / "other.parquet", [(GRAY, "b")])
    (tmp_path / "data" / "part-1.parquet").symlink_to(tmp_path / "other.parquet")

    # Run / Assert
    with pytest.raises(DataError, match=r"part-1\.parquet is a link to .*other\.parquet"):
        load_image_parquet(tmp_path / "data")
