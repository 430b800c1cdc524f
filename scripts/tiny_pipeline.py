"""Write a tiny, randomly initialised Stable Diffusion pipeline folder (no download):

    python scripts/tiny_pipeline.py models/tiny-sd [--size 16] [--channels 3] [--seed 0]

It has a real pipeline's layout (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
scheduler/; safetensors weights), so `jobs/pretrained_tiny.yaml` and the `pretrained` generator
load it as they would a user's Stable Diffusion folder. Its random weights draw noise: it shows the
plumbing, not image quality.
"""

from __future__ import annotations

import argparse

from generators.images.tiny_pipeline import write_tiny_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="folder to write (created)")
    parser.add_argument("--size", type=int, default=16, help="image side; a multiple of 8")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args()
    folder = write_tiny_pipeline(
        args.directory, size=args.size, channels=args.channels, seed=args.seed
    )
    print(f"Wrote a tiny Stable Diffusion pipeline ({args.size}x{args.size}) to {folder}")


if __name__ == "__main__":
    main()
