"""Generator families behind one protocol (`Generator`) and a registry by name.

Importing this package registers every family without importing SDV or torch: those load when a
generator is first fitted or loaded.
"""

from generators import argn, images, relational, sdv_sequence, sdv_tabular, tabddpm
from generators.base import Generator, GeneratorConfig
from generators.registry import (
    available_generators,
    create_generator,
    get_generator_class,
    load_saved_generator,
    register,
)

__all__ = [
    "Generator",
    "GeneratorConfig",
    "argn",
    "available_generators",
    "create_generator",
    "get_generator_class",
    "images",
    "load_saved_generator",
    "register",
    "relational",
    "sdv_sequence",
    "sdv_tabular",
    "tabddpm",
]
