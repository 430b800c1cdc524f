"""Image generator families (`dcgan`, `vae`, `ddpm`, `ldm`; text-to-image `t2i` and `pretrained`)
behind the common `Generator` protocol.

They fit a `core.images.ImageData` (see `sources.images` for loaders) and sample a frame of
`image` (uint8 arrays, H x W x C) and `label` (text-to-image: also `prompt` and
`guidance_scale`). Importing this package registers the families without importing torch or
diffusers.
"""

from generators.images import dcgan, ddpm, ldm, pretrained, text2image, vae
from generators.images.base import ImageGenerator, ImageGeneratorConfig

__all__ = [
    "ImageGenerator",
    "ImageGeneratorConfig",
    "dcgan",
    "ddpm",
    "ldm",
    "pretrained",
    "text2image",
    "vae",
]
