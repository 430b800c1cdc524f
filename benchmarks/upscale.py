"""Super-resolution on held-out crops of the bundled photos: bicubic, bicubic back-projected and
SR3 (`generators.images.sr3`), at x2 and x4, scored by `validators.upscale` (PSNR / SSIM against
the original crop, beside bicubic, and the low-resolution consistency error).

    python benchmarks/upscale.py [--size 32] [--steps 1500] [--factors 2 4]

The crops are `photo_patches` at `--size` (768 RGB crops, 128 per photo); the seeded 20%
holdout of `sources.images.split_holdout` is the test set, the rest trains SR3.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from core.resample import back_project, bicubic, downsample
from generators.images.sr3 import SR3Config, train_sr3, upscale_sr3
from sources.images import load_photo_patches, split_holdout
from validators.upscale import score_upscale


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--factors", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, test, _ = split_holdout(load_photo_patches(args.size), 0.2, args.seed)
    truth = test.images
    rows = []
    for factor in args.factors:
        low = downsample(truth, factor)
        base = bicubic(low, factor)
        config = SR3Config(factor=factor, steps=args.steps)
        cpu = time.process_time()
        unet = train_sr3(train.images, config, seed=args.seed)
        train_cpu = time.process_time() - cpu
        candidates = {
            "bicubic": base,
            "bicubic + back-projection": back_project(base, low, factor),
            f"sr3 ({args.steps} steps, ddim {config.sampling_steps})": upscale_sr3(
                unet, low, config, seed=args.seed
            ),
        }
        for name, upscaled in candidates.items():
            s = score_upscale(truth, upscaled, factor)
            rows.append(
                {
                    "factor": f"x{factor}",
                    "upscaler": name,
                    "PSNR dB": round(s.psnr, 2),
                    "vs bicubic dB": round(s.psnr_gain, 2),
                    "SSIM": round(s.ssim, 4),
                    "consistency (x255)": round(s.consistency * 255, 3),
                }
            )
        print(f"x{factor}: sr3 training CPU s {train_cpu:.0f}", flush=True)
    print(f"{len(truth)} held-out {args.size}x{args.size} crops; loadavg {os.getloadavg()}")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
