"""Real images in, as an `ImageData`: a built-in set, a folder of class subfolders, or an image
dataset version written by Synthpipe; plus the seeded, stratified holdout split.

Built-in image sets (no download; the data ships inside the package):

| name     | package      | images | size | labels | notes |
|----------|--------------|--------|------|--------|-------|
| `digits` | scikit-learn | 1,797  | 8x8  | 0..9   | grayscale, 0..16 scaled to [0, 1]; resizable |
| `lfw_faces` | scikit-image | 200 | 25x25 | face, non_face | real gray crops, 100 each |
| `photo_patches` | skimage, sklearn | 768 | 32x32 | photo name | RGB, 128 per photo (below) |

`lfw_faces` is `skimage.data.lfw_subset()` (resizable); `photo_patches` are RGB.

`photo_patches`: the photos are scikit-image's astronaut, chelsea, coffee and rocket and
scikit-learn's china and flower (`load_sample_images`); the label is the photo a patch comes from.
Each photo is first scaled (bilinear) so its shorter side is `PATCH_SCALE` (4) patch sides, then
`PATCHES_PER_PHOTO` square patches of the asked size (default 32) are cut at positions drawn
uniformly by a fixed seed (`PATCH_SEED`), so every run and machine gets the same patches and a
patch covers the same share of its photo at every size.

Resizing uses Pillow's bilinear filter everywhere (digits, faces, folders, Parquet), on float
pixels. Folders of class subfolders are resized to `size` x `size` as they are, without cropping:
an image that is not square is stretched, so crop it to a square first if its aspect matters.

Every image is checked against a pixel limit (width x height, default `MAX_IMAGE_PIXELS`) from its
header, before it is decoded: a PNG of a few kilobytes can declare 12000 x 12000 pixels and take
gigabytes to decode. Folder sources read only files inside the folder: a symbolic link that leads
out of it is an error.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.errors import ConfigError, DataError
from core.image_parts import label_column, label_names_of
from core.images import ImageData
from sources.tables import require_inside

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_KINDS = {1: "grayscale (1 channel)", 3: "RGB (3 channels)"}
_MODES = {1: "L", 3: "RGB"}
# 4096 x 4096: far above what the generators train on (they resize to a small square), far below
# Pillow's decompression-bomb limit (89 M pixels, an error at twice that).
MAX_IMAGE_PIXELS = 4096 * 4096
_RAISE_LIMIT = "raise the limit with the job's source.max_image_pixels"
# What Pillow raises for a file it cannot identify or decode (truncated, corrupt, unsupported).
_UNREADABLE = (OSError, SyntaxError, ValueError)


def load_digits_images(size: int | None = None) -> ImageData:
    """scikit-learn's digits: 1,797 grayscale 8x8 images of 0..9, resized to `size` if given."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    if size is not None and size != images.shape[-1]:
        _check_size(size)
        images = np.stack([_resize(image, size) for image in images])
    labels = digits.target.astype(np.int64)
    return ImageData(images, labels, [str(d) for d in range(10)], source="builtin:digits")


def load_lfw_faces(size: int | None = None) -> ImageData:
    """scikit-image's `lfw_subset`: 100 real 25x25 grayscale faces, then 100 non-faces."""
    from skimage.data import lfw_subset

    images = lfw_subset().astype(np.float32)[:, None]  # (200, 1, 25, 25) in [0, 1]
    if size is not None and size != images.shape[-1]:
        _check_size(size)
        images = np.stack([_resize(image, size) for image in images])
    labels = np.repeat(np.arange(2, dtype=np.int64), len(images) // 2)
    return ImageData(images, labels, ["face", "non_face"], source="builtin:lfw_faces")


PATCH_SEED, PATCHES_PER_PHOTO, PATCH_SCALE = 0, 128, 4
DEFAULT_PATCH_SIZE = 32
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def _bundled_photos() -> dict[str, np.ndarray]:
    """The RGB photos inside scikit-image and scikit-learn, by name, as uint8 (H, W, 3)."""
    from skimage import data as skimage_data
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skimage_data, name)() for name in SKIMAGE_PHOTOS}
    sample = load_sample_images()
    for file, image in zip(sample.filenames, sample.images, strict=True):
        photos[Path(file).stem] = image
    return photos


def load_photo_patches(size: int | None = None) -> ImageData:
    """RGB patches cut from the bundled photos, labelled by photo (see the module docstring)."""
    from PIL import Image

    size = DEFAULT_PATCH_SIZE if size is None else size
    _check_size(size)
    rng = np.random.default_rng(PATCH_SEED)
    images, labels, names = [], [], []
    for label, (name, photo) in enumerate(sorted(_bundled_photos().items())):
        height, width = photo.shape[:2]
        scale = PATCH_SCALE * size / min(height, width)
        scaled = Image.fromarray(photo).resize(
            (round(width * scale), round(height * scale)), Image.Resampling.BILINEAR
        )
        pixels = np.asarray(scaled, dtype=np.float32).transpose(2, 0, 1) / 255.0  # (3, H, W)
        tops = rng.integers(0, pixels.shape[1] - size + 1, PATCHES_PER_PHOTO)
        lefts = rng.integers(0, pixels.shape[2] - size + 1, PATCHES_PER_PHOTO)
        images += [pixels[:, t : t + size, s : s + size] for t, s in zip(tops, lefts, strict=True)]
        labels += [label] * PATCHES_PER_PHOTO
        names.append(name)
    return ImageData(
        np.stack(images), np.asarray(labels, dtype=np.int64), names, source="builtin:photo_patches"
    )


BUILTIN_IMAGES: dict[str, Callable[[int | None], ImageData]] = {
    "digits": load_digits_images,
    "lfw_faces": load_lfw_faces,
    "photo_patches": load_photo_patches,
}


def load_builtin_images(name: str, size: int | None = None) -> ImageData:
    """A built-in image set by name (see the module docstring)."""
    try:
        loader = BUILTIN_IMAGES[name]
    except KeyError:
        raise DataError(
            f"Unknown built-in image dataset {name!r}; available: {sorted(BUILTIN_IMAGES)}."
        ) from None
    return loader(size)


def load_image_folder(
    path: str | Path,
    size: int,
    channels: Literal[1, 3] | None = None,
    max_pixels: int | None = None,
) -> ImageData:
    """Images in `path/<label>/*.png|jpg|jpeg`, one subfolder per label, resized to size x size.

    `channels` 1 (grayscale) or 3 (RGB); None takes it from the first image, and every image must
    then match it. Hidden files and folders (".name") are skipped; files at the top level (such as
    a `metadata.jsonl`) are ignored. An image over `max_pixels` (default `MAX_IMAGE_PIXELS`) is a
    DataError, and so is a class folder or image that is a link leading outside `path`.
    """
    _check_size(size)
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1, 3 or None (infer); got {channels!r}.")
    root = Path(path)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(
            f"Image folder {root} {what}; point the source at a folder of class folders."
        )
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in classes:
        require_inside(folder, root)
    if not classes:
        raise DataError(
            f"Image folder {root} has no class subfolders; put each label's images in "
            f"{root}/<label>/ (e.g. {root}/cat/0001.png)."
        )
    reference = None if channels is None else f"channels={channels} was asked for"
    images, labels = [], []
    for label, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DataError(
                f"Class {folder.name!r} ({folder}) has no images; add PNG/JPEG files or remove "
                "the folder."
            )
        for file in files:
            require_inside(file, root)
            pixels = _read_image(file, size, max_pixels)
            if channels is None:
                channels = pixels.shape[0]
                reference = f"the first image, {file}, is {_KINDS[channels]}"
            if pixels.shape[0] != channels:
                raise DataError(
                    f"{file} is {_KINDS[pixels.shape[0]]} but {reference}; convert it (Pillow: "
                    f"Image.convert({_MODES[channels]!r})) so every image has {channels} "
                    "channel(s)."
                )
            images.append(pixels)
            labels.append(label)
    return ImageData(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        [p.name for p in classes],
        source=f"folder:{root}",
    )


def load_image_parquet(
    path: str | Path | Sequence[Path],
    size: int | None = None,
    max_pixels: int | None = None,
    *,
    captions: str | None = None,
) -> ImageData:
    """An image dataset written by Synthpipe: one Parquet file, a folder of `*.parquet` parts, or
    a list of part files (a dataset version's, checked against its manifest).

    Columns: `image`, a struct {bytes: PNG, path} (the Hugging Face `datasets` Image layout), and
    `label` (a ClassLabel index whose names the schema declares, or the name as a string in
    older parts). Label names are the classes present, in declared order (else sorted). Images
    keep their size unless `size` is given; all must share one size and channel count, and none
    may have more than `max_pixels` (default `MAX_IMAGE_PIXELS`). `captions` names a text column
    read as each image's prompt (every row needs a non-empty one).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(path, Sequence) and not isinstance(path, str):
        files = [Path(file) for file in path]
        source = files[0].parent if files else Path()
    elif (source := Path(path)).is_dir():
        files = sorted(source.glob("*.parquet"))
        if not files:
            raise DataError(
                f"{source} holds no .parquet files; pass a version's data/ folder or one file."
            )
        for file in files:
            require_inside(file, source)
    elif source.is_file():
        files = [source]
    else:
        raise DataError(f"Image dataset {source} does not exist; check the path.")
    images_column: list[dict | None] = []
    labels_column: list[str | None] = []
    captions_column: list[str | None] = []
    declared: list[str] | None = None
    for file in files:
        try:
            table = pq.read_table(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{file} could not be read as Parquet ({exc}).") from None
        missing = [c for c in ("image", "label") if c not in table.column_names]
        if missing:
            raise DataError(
                f"{file} lacks column(s) {missing}; an image dataset has 'image' (struct of PNG "
                f"bytes and path) and 'label'. Its columns: {table.column_names}."
            )
        if captions is not None and captions not in table.column_names:
            raise DataError(
                f"{file} has no captions column {captions!r} (prompts.captions_column); its "
                f"columns: {table.column_names}."
            )
        images_column += table.column("image").to_pylist()
        labels_column += label_column(table)
        if captions is not None:
            values = table.column(captions).to_pylist()
            captions_column += [None if c is None else str(c) for c in values]
        declared = declared or label_names_of(table.schema)
    rows = [
        {"image": image, "label": label}
        for image, label in zip(images_column, labels_column, strict=True)
    ]
    if not rows:
        raise DataError(f"Image dataset {source} has no rows.")

    images = []
    for number, row in enumerate(rows):
        where = f"row {number} of {source}" + (f" ({row['image']['path']})" if row["image"] else "")
        if row["label"] is None:
            raise DataError(
                f"{where} has no label; image sources need a label per image (sample from a "
                "conditional generator to get labelled images)."
            )
        if not row["image"] or not row["image"]["bytes"]:
            raise DataError(f"{where} has no PNG bytes in image.bytes.")
        pixels = _decode(io.BytesIO(row["image"]["bytes"]), where, size, max_pixels)
        if images and pixels.shape != images[0].shape:
            raise DataError(
                f"{where} is {_shape_text(pixels)}, unlike row 0 ({_shape_text(images[0])}); "
                "pass size=... to resize, and keep one channel count."
            )
        images.append(pixels)
    present = {str(row["label"]) for row in rows}
    # The declared class order where the parts declare one; classes without images are left out.
    names = [n for n in declared if n in present] if declared else sorted(present)
    index = {name: i for i, name in enumerate(names)}
    labels = np.asarray([index[str(row["label"])] for row in rows], dtype=np.int64)
    data = ImageData(np.stack(images), labels, names, source=f"parquet:{source}")
    if captions is None:
        return data
    empty = [i for i, c in enumerate(captions_column) if c is None or not c.strip()]
    if empty:
        raise DataError(
            f"{len(empty)} row(s) of {source} have no caption in {captions!r} (the first: row "
            f"{empty[0]}); give every image a caption or drop those rows."
        )
    return data.with_prompts(captions_column)


def split_holdout(
    data: ImageData, fraction: float, seed: int
) -> tuple[ImageData, ImageData, list[int]]:
    """Keep `fraction` of each label's images out of training, chosen by `seed`.

    Returns (train, holdout, holdout indices into `data`). Each label contributes
    round(fraction x its count) images, leaving at least one of it in training.
    """
    if not 0 < fraction < 1:
        raise ConfigError(
            f"holdout fraction must be between 0 and 1 (exclusive); got {fraction!r}."
        )
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in range(data.num_classes):
        members = np.flatnonzero(data.labels == label)
        count = min(round(fraction * len(members)), max(len(members) - 1, 0))
        held.append(rng.permutation(members)[:count])
    holdout = np.sort(np.concatenate(held)).astype(np.int64)
    if len(holdout) == 0:
        raise DataError(
            f"A holdout fraction of {fraction} keeps none of the {len(data)} images out; "
            "raise the fraction or add images."
        )
    train = np.setdiff1d(np.arange(len(data)), holdout)
    return data.subset(train), data.subset(holdout), holdout.tolist()


def fingerprint(data: ImageData) -> str:
    """sha256 of an image set's pixels, labels and label names (order matters), for lineage."""
    return data.fingerprint()


# ---- decoding ------------------------------------------------------------------------------------
def _check_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"Image size must be a positive integer (pixels per side); got {size!r}.")


def _read_image(file: Path, size: int, max_pixels: int | None) -> np.ndarray:
    if file.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(
            f"{file} is not a PNG or JPEG image (suffix {file.suffix!r}); remove it from the "
            "class folder or convert it."
        )
    with file.open("rb") as handle:
        return _decode(handle, str(file), size, max_pixels)


def _decode(
    stream: io.BufferedIOBase | io.BytesIO, where: str, size: int | None, max_pixels: int | None
) -> np.ndarray:
    """One encoded image -> float32 (C, size, size) in [0, 1]; C is 1 or 3 (alpha dropped).

    The pixel count comes from the header (`Image.open` decodes nothing) and is checked first.
    """
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    with _open(stream, where) as image:
        width, height = image.size
        if width * height > limit:
            raise DataError(
                f"{where} is {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{limit:,} pixels per image (checked before decoding; a small file can declare "
                f"a huge image). Downscale it, or {_RAISE_LIMIT}."
            )
        try:
            image.load()
            mode = "L" if image.mode in GRAYSCALE_MODES else "RGB"
            image = image.convert(mode)
        except _UNREADABLE as exc:
            raise _unreadable(where, exc) from None
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)  # (C, H, W)
    if size is None or pixels.shape[1:] == (size, size):
        return pixels
    return np.stack([_resize(plane[None], size)[0] for plane in pixels])


def image_dimensions(file: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header, without decoding it."""
    with file.open("rb") as handle, _open(handle, str(file)) as image:
        return image.size


def _open(stream: io.BufferedIOBase | io.BytesIO, where: str) -> Any:
    """The image in `stream`, opened lazily (header only), or a DataError naming `where`."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 M pixels; the caller's limit decides (and is usually lower).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream)
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{where} is refused by Pillow as a decompression bomb ({exc}); downscale it."
        ) from None
    except _UNREADABLE as exc:
        raise _unreadable(where, exc) from None


def _unreadable(where: str, exc: Exception) -> DataError:
    return DataError(
        f"{where} could not be read as an image ({type(exc).__name__}: {exc}); replace or "
        "remove it."
    )


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """(1, H, W) float32 -> (1, size, size) with Pillow's bilinear filter on 32-bit float pixels."""
    from PIL import Image

    plane = Image.fromarray(np.ascontiguousarray(image[0], dtype=np.float32))  # mode "F"
    resized = plane.resize((size, size), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)[None]


def _shape_text(pixels: np.ndarray) -> str:
    return f"{pixels.shape[1]}x{pixels.shape[2]} with {pixels.shape[0]} channel(s)"
