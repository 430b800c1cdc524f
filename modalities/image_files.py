"""`synth validate` on images: user-supplied synthetic images against real ones, no generator
(`ImageModality.reads_files` / `validate_files`).

Real images (`--real`): a built-in image set (`digits`), a folder of class subfolders, a
Synthpipe image Parquet file / folder of parts, or an image dataset version (`name@3`,
`name@latest`) in the default store. They are split as a job splits them (seeded, stratified,
the image modality's holdout default held out); the holdout is the real-vs-real baseline.
Synthetic images (`--synthetic`): a folder of class subfolders (label = folder name, e.g. a
version's `images/` view) or image Parquet, resized to the real images' side.

The CLI writes the report (`report.json`, `report.md`, `report.html` + `plots/`) to `--out`;
nothing is published. The CNN extractor is cached where jobs cache it, `<store root>/.extractors/`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from core import progress
from core.errors import ConfigError, DataError, DatasetNotFoundError
from core.image_parts import is_image_parquet
from core.images import ImageData
from modalities.base import FileInputs, FileValidation
from modalities.registry import available_modalities, get_modality
from sources import images as image_sources
from validators.html_report import Figure
from validators.images import SyntheticImages, validate_images
from validators.thresholds import ImageThresholds

if TYPE_CHECKING:
    from datastore import DatasetVersion


def is_image_source(real: str) -> bool:
    """Whether `--real` names images (built-in image set, class folders, image Parquet or an
    image dataset version) rather than a table."""
    path = Path(real)
    if not path.exists():
        return real in image_sources.BUILTIN_IMAGES or _image_version(real) is not None
    if path.is_dir() and not any(path.glob("*.parquet")):
        return any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
    return is_image_parquet(path)


def load_real_images(real: str) -> tuple[ImageData, str]:
    """The real images `--real` names, and where they came from."""
    path = Path(real)
    if not path.exists():
        if real in image_sources.BUILTIN_IMAGES:
            return image_sources.load_builtin_images(real), f"builtin:{real}"
        version = _image_version(real)
        if version is None:
            raise DataError(f"--real {real} is neither a path, a built-in image set nor a version.")
        return image_sources.load_image_parquet(version.verified_part_paths()), f"dataset:{real}"
    if path.is_dir() and not any(path.glob("*.parquet")):
        return image_sources.load_image_folder(path, _first_side(path)), str(path)
    return image_sources.load_image_parquet(path), str(path)


def load_synthetic_images(path: Path, like: ImageData) -> SyntheticImages:
    """Synthetic images from class folders or image Parquet, at `like`'s side and channels."""
    from validators.image_quality import to_uint8

    if not path.exists():
        raise DataError(f"--synthetic {path} does not exist; pass a folder or Parquet.")
    if path.is_dir() and not any(path.glob("*.parquet")):
        data = image_sources.load_image_folder(path, like.size, like.channels)  # type: ignore[arg-type]
    else:
        data = image_sources.load_image_parquet(path, like.size)
    if data.channels != like.channels:
        raise DataError(
            f"--synthetic images have {data.channels} channel(s), the real ones {like.channels}."
        )
    images = to_uint8(data.images)
    ids = [hashlib.sha256(image.tobytes()).hexdigest() for image in images]
    return SyntheticImages(images, [data.label_names[i] for i in data.labels], ids)


def validate_image_files(given: FileInputs) -> FileValidation:
    """Validate `given.synthetic` against `given.real` (see the module docstring)."""
    from datastore.model_cache import extractor_cache_dir
    from datastore.store import default_root

    table_only = {
        "--holdout": given.holdout,
        "--holdout-fraction": given.holdout_fraction,
        "--target": given.target,
    }
    refused = [option for option, value in table_only.items() if value is not None]
    if refused:
        raise ConfigError(
            f"{', '.join(refused)} appl{'ies' if len(refused) == 1 else 'y'} to tables only: "
            "real images are split into train and holdout as an image job splits them."
        )
    thresholds = ImageThresholds.model_validate(given.thresholds)
    with progress.phase("load") as phase:
        data, origin = load_real_images(given.real)
        train, holdout, _ = image_sources.split_holdout(
            data, get_modality("image").holdout_default, given.seed
        )
        images = load_synthetic_images(given.synthetic, train)
        phase.detail = (
            f"{origin}: {len(train):,} training, {len(holdout):,} holdout images; "
            f"{len(images):,} synthetic images"
        )
    report = validate_images(
        train,
        images,
        real_holdout=holdout,
        extractor_cache=extractor_cache_dir(default_root()),
        thresholds=thresholds,
        seed=given.seed,
    )

    def figures() -> list[Figure]:
        from validators.image_plots import image_figures

        return image_figures(report, train, images)

    return FileValidation(
        report=report,
        title=f"{given.synthetic} against {origin}: image validation",
        figures=figures,
        lineage={"validated": {"real": origin, "synthetic": str(given.synthetic)}},
        notes=[],
    )


def _image_version(ref: str) -> DatasetVersion | None:
    """The image dataset version `ref` in the default store, if there is one."""
    from datastore import DatasetStore

    try:
        version = DatasetStore().open(ref)
    except (DatasetNotFoundError, ConfigError):  # not a dataset name at all, or none stored
        return None
    # Any image kind (images per label, images drawn for prompts) holds image parts. Imported
    # here: the image plugin imports this module.
    from modalities.image import ImageModality

    kind = version.manifest.kind
    is_image = kind in available_modalities() and isinstance(get_modality(kind), ImageModality)
    return version if is_image else None


def _first_side(folder: Path) -> int:
    """The width of the first image under `folder`'s class folders (the real images' side)."""
    for file in sorted(folder.glob("*/*")):
        if file.suffix.lower() in image_sources.IMAGE_SUFFIXES:
            return image_sources.image_dimensions(file)[0]
    raise DataError(f"{folder} has no PNG/JPEG images in class subfolders.")
