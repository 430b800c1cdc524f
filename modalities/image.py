"""Labelled images: built-in sets, class folders, image Parquet or image dataset versions, a
per-label seeded holdout, PNG parts (`core.image_parts.image_schema`) with a sample grid and an
imagefolder view, the image suite (`validators.image_checks`) and its plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
from fsspec.utils import get_protocol

from core.errors import ConfigError, DataError
from core.image_masks import policy_masks
from core.image_parts import (
    IMAGE_FIELDS,
    decode_png,
    image_records,
    image_schema,
    iter_image_rows,
    label_names_of,
)
from core.images import ImageData, balanced_labels
from datastore import DatasetStore, StagedVersion
from datastore.images import GRID_FILE, IMAGEFOLDER_DIR, sample_grid, write_imagefolder
from datastore.model_cache import extractor_cache_dir
from generators import Generator
from generators.base import GeneratorConfig
from generators.images.base import ImageGenerator
from modalities.base import (
    FileInputs,
    FileValidation,
    InitSettings,
    JobView,
    Modality,
    RealData,
    UpliftInputs,
    open_source_version,
    refuse_relational_options,
)
from modalities.image_files import is_image_source, validate_image_files
from modalities.provenance import HF_PROVENANCE, PROVENANCE_FIELDS
from sources import images as image_sources
from sources.config import SourceConfig
from validators import ValidationReport
from validators.html_report import Figure
from validators.images import read_image_parts, validate_images
from validators.thresholds import ImageThresholds

LABEL = "label"  # image records are labelled in this column


class ImageModality(Modality):
    name: ClassVar[str] = "image"
    thresholds = ImageThresholds
    builtins = image_sources.BUILTIN_IMAGES
    holdout_default: ClassVar[float] = 0.2
    # Image generators train far faster on a GPU, so image jobs go to the GPU pool unless they
    # say otherwise.
    default_resource: ClassVar[str] = "gpu"

    def check_job(self, job: JobView) -> None:
        check_image_job(job)
        if job.prompts is not None:
            raise ValueError(
                f"prompts apply to text-to-image generators only; {job.generator.name!r} draws "
                "images per label (use a prompted_image generator such as t2i)"
            )

    def check_augment(self, label: str, config: GeneratorConfig) -> None:
        if label != LABEL:
            raise ValueError(
                f"augment.label is {label!r}; image records are labelled {LABEL!r} "
                "(leave augment.label out)"
            )
        if not getattr(config, "conditional", False):
            raise ValueError(
                "augmenting draws samples per class; set generator.params.conditional: true"
            )

    # ---- real data -----------------------------------------------------------------------------
    def load(self, source: SourceConfig, root: str | Path) -> tuple[ImageData, str]:
        return self.load_images(source, root)

    def load_images(
        self, source: SourceConfig, root: str | Path, *, captions: str | None = None
    ) -> tuple[ImageData, str]:
        """The source's images; with `captions`, each image's prompt from that text column of an
        image Parquet source (the only kind that holds one)."""
        if captions is not None and source.builtin is not None:
            raise DataError(
                f"prompts.captions_column {captions!r} reads a column of an image Parquet "
                f"source; the built-in {source.builtin!r} has no captions: caption it with a "
                'template (prompts: "a photo of a {label}") instead.'
            )
        if source.builtin is not None:
            data = image_sources.load_builtin_images(source.builtin, source.image_size)
            return data, f"builtin:{source.builtin}"
        if source.dataset is not None:
            # Through the manifest: only its parts, each checked against its sha256.
            version = open_source_version(source, root)
            parts = version.verified_part_paths()
            data = image_sources.load_image_parquet(
                parts, source.image_size, source.max_image_pixels, captions=captions
            )
            return data, f"dataset:{version.ref}"
        path = Path(str(source.path))
        origin = str(path.resolve())
        if path.is_file() or any(path.glob("*.parquet")):
            data = image_sources.load_image_parquet(
                path, source.image_size, source.max_image_pixels, captions=captions
            )
            return data, origin
        if captions is not None:
            raise DataError(
                f"prompts.captions_column {captions!r} reads a column of an image Parquet "
                f"source; {path} is a folder of class folders. Write the images with their "
                "captions as image Parquet (columns image, label and the caption)."
            )
        if source.image_size is None:
            raise DataError(
                f"Images from the folder {path} need source.image_size (the square side to "
                "resize every image to)."
            )
        data = image_sources.load_image_folder(
            path, source.image_size, source.channels, source.max_image_pixels
        )
        return data, origin

    def split(
        self, data: ImageData, fraction: float, seed: int
    ) -> tuple[ImageData, ImageData, list[int]]:
        return image_sources.split_holdout(data, fraction, seed)

    def fingerprint(self, data: ImageData) -> str:
        return data.fingerprint()

    def subset(self, data: ImageData, positions: Sequence[int]) -> ImageData:
        return data.subset(np.asarray(positions, dtype=np.int64))

    def check_conditions(self, real: RealData, conditions: dict[str, Any] | None) -> None:
        if not conditions:
            return
        unknown = sorted(set(conditions) - {LABEL})
        if unknown:
            raise DataError(f"Image conditions take only 'label'; got {unknown}.")
        names = list(real.train.label_names)
        if str(conditions[LABEL]) not in names:
            raise DataError(
                f"Condition label {conditions[LABEL]!r} is not a real label; labels: {names}."
            )

    # ---- what a version holds ------------------------------------------------------------------
    def sample_conditions(
        self, job: JobView, generator: Generator, rows: int, first_index: int
    ) -> Any:
        if job.balanced_labels:
            return balanced_labels(rows, generator.spec.label_names)
        return job.conditions

    def schema(self, real: RealData) -> pa.Schema:
        """`core.image_parts.image_schema`: `label` a ClassLabel of the real classes."""
        return image_schema(real.train.label_names)

    def records(
        self, frame: pd.DataFrame, *, schema: pa.Schema, seed: int, first_index: int
    ) -> pd.DataFrame:
        names = label_names_of(schema) or []
        return image_records(frame, label_names=names, seed=seed, first_index=first_index)

    def add_views(self, staged: StagedVersion, grid_parts: Sequence[str | Path]) -> None:
        """A sample grid of `grid_parts` and the imagefolder view of every part
        (`images/<label>/<id>.png` + metadata.jsonl)."""
        (Path(staged.path) / GRID_FILE).write_bytes(sample_grid(grid_parts))
        write_imagefolder(staged.local_parts(), staged.dir(IMAGEFOLDER_DIR))

    def lineage_extra(self, job: JobView, generator: Generator) -> dict[str, Any]:
        return {"sampling": generator.sampling_info()}

    # ---- validation and report -----------------------------------------------------------------
    def validate(self, job: JobView, real: RealData, parts: list[str]) -> ValidationReport:
        """Validate the staged images. The CNN extractor is cached in the store,
        `<root>/.extractors/`, by the real training data's fingerprint, so every job on the same
        real data shares it."""
        requested = [str(job.conditions[LABEL])] if job.conditions else []
        return validate_image_parts(
            job,
            real.train,
            real.holdout,
            parts,
            expected_rows=job.rows,
            requested_labels=list(real.train.label_names) if job.balanced_labels else requested,
        )

    def figures(
        self, job: JobView, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        from validators.image_plots import image_figures

        return image_figures(report, real.train, read_image_parts(parts))

    # ---- augmenting a labelled set -------------------------------------------------------------
    def reads_files(self, real: str) -> bool:
        return is_image_source(real)

    def validate_files(self, given: FileInputs) -> FileValidation:
        return validate_image_files(given)

    def class_labels(self, train: ImageData, label: str) -> pd.Series:
        names = np.asarray(train.label_names, dtype=object)[train.labels]
        return pd.Series(names, dtype=object)

    def augment_schema(self, train: ImageData) -> pa.Schema:
        """The image schema plus the provenance columns, with `datasets` features for them."""
        names = {f.name for f in IMAGE_FIELDS}
        extra = [f for f in PROVENANCE_FIELDS if f.name not in names]
        return image_schema(train.label_names, extra=extra, features=HF_PROVENANCE)

    def real_records(self, train: ImageData) -> pd.DataFrame:
        frame = image_frame(train)
        return image_records(frame, label_names=train.label_names, seed=0, first_index=0)

    def class_conditions(self, wanted: list[str], train: ImageData, label: str) -> pd.DataFrame:
        return pd.DataFrame({LABEL: wanted})

    def variations(
        self,
        generator: Generator,
        train: ImageData,
        parents: Sequence[int],
        wanted: list[str],
        init: InitSettings,
        seed: int,
    ) -> pd.DataFrame:
        if not isinstance(generator, ImageGenerator):
            raise ConfigError(
                f"augment.init needs a class-label image generator; {generator.name!r} is not one."
            )
        images = train.images[np.asarray(parents, dtype=np.int64)]  # (n, C, H, W)
        masks = None
        if init.mask is not None:
            masks = policy_masks(init.mask, len(images), train.size, init.mask_fraction, seed)
        labels = wanted if generator.config.conditional else None
        return generator.vary(images, labels, strength=init.strength, seed=seed, masks=masks)

    def validate_augmented(
        self,
        job: JobView,
        label: str,
        train: ImageData,
        holdout: ImageData,
        plan: dict[str, int],
        parts: list[str],
    ) -> ValidationReport:
        return validate_image_parts(
            job,
            train,
            holdout,
            parts,
            expected_rows=sum(plan.values()),
            requested_labels=[name for name, count in plan.items() if count],
        )

    def uplift_inputs(
        self,
        train: ImageData,
        holdout: ImageData,
        parts: list[str],
        label: str,
        sdtypes: dict[str, str],
    ) -> UpliftInputs:
        rows = list(iter_image_rows(parts))
        pixels = np.stack([decode_png(r["image"]["bytes"]).transpose(2, 0, 1) for r in rows])
        x_real, x_holdout = (d.images.reshape(len(d), -1) for d in (train, holdout))
        x_synthetic = pixels.reshape(len(rows), -1).astype(np.float32) / 255
        y_synthetic = [r[LABEL] for r in rows]
        return x_real, x_synthetic, y_synthetic, x_holdout, self.class_labels(holdout, label)


def check_image_job(job: JobView) -> None:
    """What every image job needs: a local root, and labels rather than a target."""
    refuse_relational_options(job)
    if job.root is not None and get_protocol(job.root) not in ("file", "local"):
        raise ValueError(
            f"image datasets need a local root for now (their grid and imagefolder views are "
            f"written as local files); got root {job.root!r}"
        )
    if job.target is not None:
        raise ValueError("target applies to table jobs only (image jobs have labels)")
    if job.constraints:
        raise ValueError("constraints apply to table jobs only (rules over table columns)")


def image_frame(data: ImageData) -> pd.DataFrame:
    """`image` (uint8 `(H, W, C)` arrays) and `label` columns, as a generator samples them."""
    pixels = np.round(data.images * 255).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    names = np.asarray(data.label_names, dtype=object)[data.labels]
    return pd.DataFrame({"image": list(pixels), LABEL: names})


def validate_image_parts(
    job: JobView,
    train: ImageData,
    holdout: ImageData | None,
    parts: list[str],
    *,
    expected_rows: int,
    requested_labels: list[str],
    prompt_counts: dict[str, int] | None = None,
) -> ValidationReport:
    return validate_images(
        train,
        read_image_parts(parts),
        real_holdout=holdout,
        extractor_cache=extractor_cache_dir(DatasetStore(job.root).root),
        thresholds=job.validation,
        expected_rows=expected_rows,
        requested_labels=requested_labels,
        prompt_counts=prompt_counts,
        seed=job.seed,
    )
