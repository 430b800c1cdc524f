"""The bottom layer: what every other package shares and nothing here imports from them.

Typed errors (`core.errors`), SDV metadata and key-column helpers (`core.metadata`), pickle
signing (`core.signing`), the `ImageData` container (`core.images`) and the row format of image
Parquet parts (`core.image_parts`).
"""
