"""Image generator families (`dcgan`, `vae`, `ddpm`) behind the common `Generator` protocol.

They fit an `ImageData` (see `synthpipe.image_sources` for loaders) and sample a frame of
`image` (uint8 arrays, H x W x C) and `label`. Importing this package registers the families
without importing torch or diffusers.
"""

from generators.images import dcgan, ddpm, vae
from generators.images.base import ImageGenerator, ImageGeneratorConfig
from generators.images.data import ImageData, balanced_labels

__all__ = [
    "ImageData",
    "ImageGenerator",
    "ImageGeneratorConfig",
    "balanced_labels",
    "dcgan",
    "ddpm",
    "vae",
]
