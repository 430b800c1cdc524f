"""Kinds of data as plugins (`modalities.base.Modality`), registered once, by name.

The job config asks a job's modality which options fit it; the pipeline asks it to load, split,
fingerprint, write, validate and report. A new kind of data is a module here (its plugin) plus
its registration line below; its checks go in `validators/` as a suite.
"""

from modalities.base import FileInputs, FileValidation, JobView, Modality, RealData
from modalities.image import ImageModality
from modalities.prompted_image import PromptedImageModality
from modalities.registry import (
    available_modalities,
    files_modality,
    generator_modality,
    get_modality,
    modality_of,
    register_modality,
)
from modalities.relational import RelationalModality
from modalities.sequence import SequenceModality
from modalities.table import TableModality

register_modality(TableModality())
register_modality(ImageModality())
register_modality(PromptedImageModality())
register_modality(RelationalModality())
register_modality(SequenceModality())

__all__ = [
    "FileInputs",
    "FileValidation",
    "JobView",
    "Modality",
    "RealData",
    "available_modalities",
    "files_modality",
    "generator_modality",
    "get_modality",
    "modality_of",
    "register_modality",
]
