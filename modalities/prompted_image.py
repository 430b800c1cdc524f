"""Images drawn for text prompts: the image sources of `modalities.image` captioned by a job's
`prompts:` (`modalities.prompts`), sampled one prompt per image, stored as image parts with
`prompt` and `guidance_scale` columns, and judged by the image suite on the prompts' classes plus
per-prompt counts.

The generators of this kind (`generators.images.prompted.PromptedImageGenerator`) fit an
`ImageData` with one prompt per image and sample from a conditions frame of `prompt` and `label`
per row; they return `image`, `label`, `prompt` and `guidance_scale`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from core.image_parts import image_records, image_schema, label_names_of
from core.images import ImageData
from generators import Generator
from generators.base import GeneratorConfig
from modalities.base import JobView, RealData
from modalities.image import ImageModality, check_image_job, validate_image_parts
from modalities.prompts import Pairs, PromptsConfig
from validators import ValidationReport
from validators.html_report import Figure
from validators.images import read_image_parts
from validators.thresholds import PromptedImageThresholds

# The columns the parts hold beyond the image ones, and how `datasets` reads them.
PROMPT_FIELDS = [pa.field("prompt", pa.string()), pa.field("guidance_scale", pa.float64())]
HF_PROMPT_FEATURES = {
    "prompt": {"dtype": "string", "_type": "Value"},
    "guidance_scale": {"dtype": "float64", "_type": "Value"},
}


class PromptedImageModality(ImageModality):
    name: ClassVar[str] = "prompted_image"
    thresholds = PromptedImageThresholds

    def check_job(self, job: JobView) -> None:
        check_image_job(job)
        if job.prompts is None:
            raise ValueError(
                f"{job.generator.name!r} draws images for text prompts: give the job `prompts:`, "
                'a template for every label ("a photo of a {label}") or a mapping label -> '
                "template"
            )
        if job.conditions or job.balanced_labels:
            raise ValueError(
                "conditions and balanced_labels do not apply to text-to-image jobs: the images "
                "are spread evenly over the labels `prompts:` names (map only the labels wanted)"
            )

    def check_augment(self, label: str, config: GeneratorConfig) -> None:
        raise ValueError(
            "augmenting with a text-to-image generator is not supported yet; augment with a "
            "class-conditional image generator (ldm, ddpm, dcgan, vae)"
        )

    # ---- real data -----------------------------------------------------------------------------
    def load_job(self, job: JobView, root: str | Path) -> tuple[ImageData, str]:
        """The source's images of the prompted labels, each captioned with its label's prompt."""
        prompts = _prompts(job)
        if prompts.captions_column is not None:
            return self.load_images(job.source, root, captions=prompts.captions_column)
        data, origin = self.load(job.source, root)
        names = list(data.label_names)
        classes = prompts.classes(names)
        prompts.check_rows(len(classes), job.rows)
        wanted = np.flatnonzero(np.isin(data.labels, [names.index(c) for c in classes]))
        data = data.subset(wanted)
        return data.with_prompts([prompts.prompt(names[i]) for i in data.labels]), origin

    # ---- what a version holds ------------------------------------------------------------------
    def sample_conditions(
        self, job: JobView, generator: Generator, rows: int, first_index: int
    ) -> pd.DataFrame:
        """This shard's rows of the version's plan: one (prompt, label) per image."""
        plan = _prompts(job).plan(_learned_pairs(job, generator), job.rows)
        return plan.iloc[first_index : first_index + rows].reset_index(drop=True)

    def schema(self, real: RealData) -> pa.Schema:
        """The image schema (`label` a ClassLabel of the real classes) plus `prompt` and
        `guidance_scale`."""
        return image_schema(
            real.train.label_names, extra=PROMPT_FIELDS, features=HF_PROMPT_FEATURES
        )

    def records(
        self, frame: pd.DataFrame, *, schema: pa.Schema, seed: int, first_index: int
    ) -> pd.DataFrame:
        names = label_names_of(schema) or []
        rows = image_records(frame, label_names=names, seed=seed, first_index=first_index)
        return rows.assign(
            prompt=frame["prompt"].astype(str).to_numpy(),
            guidance_scale=frame["guidance_scale"].astype(float).to_numpy(),
        )

    def lineage_extra(self, job: JobView, generator: Generator) -> dict[str, Any]:
        """The sampling choices plus the prompts drawn (with their image counts) and guidance."""
        return {
            **super().lineage_extra(job, generator),
            "prompts": _prompts(job).counts(_learned_pairs(job, generator), job.rows),
            "guidance_scale": generator.config.guidance_scale,
        }

    # ---- validation and report -----------------------------------------------------------------
    def validate(self, job: JobView, real: RealData, parts: list[str]) -> ValidationReport:
        """The image suite on the prompts' classes (the real data holds only those), with the
        images planned per prompt checked in its expectations."""
        prompts = _prompts(job)
        names = real.train.label_names
        return validate_image_parts(
            job,
            real.train,
            real.holdout,
            parts,
            expected_rows=job.rows,
            requested_labels=prompts.classes(names),
            prompt_counts=prompts.counts(_train_pairs(job, real), job.rows),
        )

    def figures(
        self, job: JobView, real: RealData, parts: list[str], report: ValidationReport
    ) -> list[Figure]:
        """The images drawn per prompt against the plan (naming the prompts), then the image
        figures."""
        from validators.image_plots import image_figures, prompt_counts_figure

        synthetic = read_image_parts(parts)
        planned = _prompts(job).counts(_train_pairs(job, real), job.rows)
        drawn = pd.Series(synthetic.prompts, dtype=object).value_counts().to_dict()
        return [
            prompt_counts_figure(planned, drawn),
            *image_figures(report, real.train, synthetic),
        ]


def _prompts(job: JobView) -> PromptsConfig:
    assert job.prompts is not None  # check_job refuses a prompted job without prompts
    return job.prompts


def _learned_pairs(job: JobView, generator: Generator) -> Pairs:
    """The (prompt, label) pairs a fitted model draws: its prompted labels, or its captions."""
    return _prompts(job).pairs(generator.spec.label_names, generator.spec.prompts)


def _train_pairs(job: JobView, real: RealData) -> Pairs:
    """The same pairs, from the training images the model was fitted on."""
    return _prompts(job).pairs(real.train.label_names, real.train.prompt_pairs())
