"""Modality plugins by name: an explicit dict filled by `register_modality` in
`modalities/__init__.py`, one line per kind of data."""

from __future__ import annotations

from core.errors import ConfigError, DataError
from generators.registry import get_generator_class
from modalities.base import JobView, Modality

_REGISTRY: dict[str, Modality] = {}


def register_modality(modality: Modality) -> Modality:
    if modality.name in _REGISTRY:
        raise ConfigError(f"A modality named {modality.name!r} is already registered.")
    _REGISTRY[modality.name] = modality
    return modality


def available_modalities() -> list[str]:
    return sorted(_REGISTRY)


def get_modality(name: str) -> Modality:
    """The plugin registered as `name` (a generator's `modality`, a manifest's `kind`)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"No modality {name!r} is registered; modalities: {available_modalities()}."
        ) from None


def generator_modality(generator: str) -> Modality:
    """The plugin of the data the generator registered as `generator` makes."""
    return get_modality(get_generator_class(generator).modality)


def modality_of(job: JobView) -> Modality:
    """The plugin of the data a job's generator makes."""
    return generator_modality(job.generator.name)


def files_modality(real: str) -> Modality:
    """The plugin whose data `synth validate --real REAL` names (the first registered that
    reads it); DataError naming what each kind reads when none does."""
    for modality in _REGISTRY.values():
        if modality.reads_files(real):
            return modality
    raise DataError(
        f"--real {real}: no such table file, image folder, image Parquet, built-in image set "
        "or image dataset version. Give a CSV or Parquet table, a folder of class folders of "
        "images, image Parquet, a built-in image set (digits) or an image version (name@N)."
    )
