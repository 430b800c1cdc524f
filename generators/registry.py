"""Generators by name: an explicit dict filled by `@register`, no discovery magic.

The registry builds on `generators.base` (never the reverse): creating a generator by name and
rebuilding a saved one by the name it saved both look the family up here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from core.errors import ConfigError, UnknownGeneratorError
from generators.base import Generator, saved_generator_name

G = TypeVar("G", bound=type[Generator])
_REGISTRY: dict[str, type[Generator]] = {}


def register(name: str) -> Callable[[G], G]:
    """Class decorator adding a generator family under `name`."""

    def decorate(klass: G) -> G:
        if name in _REGISTRY:
            raise ConfigError(
                f"A generator named {name!r} is already registered ({_REGISTRY[name].__name__})."
            )
        klass.name = name
        _REGISTRY[name] = klass
        return klass

    return decorate


def available_generators(modality: str | None = None) -> list[str]:
    """Registered names, optionally only those of one modality (`table`, `image`)."""
    return sorted(n for n, k in _REGISTRY.items() if modality in (None, k.modality))


def private_generators() -> list[str]:
    """The generators that can train under a job's `privacy:` block."""
    return [n for n in available_generators() if get_generator_class(n).supports_privacy]


def get_generator_class(name: str) -> type[Generator]:
    try:
        return _REGISTRY[name]
    except KeyError:
        available = ", ".join(available_generators())
        raise UnknownGeneratorError(
            f"Unknown generator {name!r}. Available generators: {available}."
        ) from None


def create_generator(name: str, params: Mapping[str, Any] | None = None) -> Generator:
    """Build the generator registered as `name` with validated `params`."""
    return get_generator_class(name)(params or {})


def load_saved_generator(path: str | Path) -> Generator:
    """Rebuild the generator saved in directory `path`, of whichever family saved it."""
    return get_generator_class(saved_generator_name(path)).load(path)
