"""Prefect orchestration: the only package that imports prefect."""

from flows.settings import apply_defaults

apply_defaults()
