"""Generator families behind one protocol (`Generator`) and a registry by name.

Importing this package registers every family without importing SDV or torch: those load when a
generator is first fitted or loaded.
"""

from generators import images, sdv_tabular
from generators.base import Generator, GeneratorConfig
from generators.registry import (
    available_generators,
    create_generator,
    get_generator_class,
    register,
)

__all__ = [
    "Generator",
    "GeneratorConfig",
    "available_generators",
    "create_generator",
    "get_generator_class",
    "images",
    "register",
    "sdv_tabular",
]
