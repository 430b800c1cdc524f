"""Image generators side by side: sampling speed per scheduler of one trained DDPM, and training
speed per family, on CUDA when present (fp32 and bf16 autocast) or the CPU.

    python benchmarks/images.py [--steps 300] [--size 16] [--images 64] [--train-steps 30]

Trains a small class-conditional DDPM on digits for `--steps`, then samples `--images` images
(balanced over the labels) with ddpm-1000, ddim-50 and dpm_solver-20 from the same weights.
Training speed is steps/s over `--train-steps` steps at `--batch-size` after a 2-step warm-up.
Every timing ends with the results on the host (sample returns numpy, fit reads the losses), so
CUDA work is finished when the clock stops.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from core.images import balanced_labels
from generators import create_generator
from generators.device import resolve_device
from sources.images import load_digits_images

SAMPLERS = [("ddpm", 1000), ("ddim", 50), ("dpm_solver", 20)]
FAMILY_PARAMS: dict[str, dict] = {
    "dcgan": {"latent_dim": 64, "base_channels": 64},
    "vae": {"latent_dim": 16, "base_channels": 32},
    "ddpm": {"block_out_channels": (32, 64), "layers_per_block": 1},
}


Row = tuple[str, int, float, str]  # task, steps, wall seconds, rate


def timed_fit(name: str, data, params: dict, steps: int) -> tuple[object, float]:
    generator = create_generator(name, {**params, "steps": steps, "verbose": False})
    started = time.perf_counter()
    generator.fit(data, seed=0)
    return generator, time.perf_counter() - started


def run(args: argparse.Namespace, device: str, precision: str, data) -> list[Row]:
    common = {"conditional": True, "batch_size": args.batch_size, "device": device}
    common["mixed_precision"] = precision
    ddpm, wall = timed_fit("ddpm", data, {**FAMILY_PARAMS["ddpm"], **common}, args.steps)
    rows = [("train ddpm, incl. setup", args.steps, wall, f"{args.steps / wall:.1f} steps/s")]

    wanted = balanced_labels(args.images, ddpm.spec.label_names)
    ddpm.with_sampler("ddim", 2).sample(2, seed=0)  # warm-up: kernels, allocator
    for sampler, steps in SAMPLERS:
        started = time.perf_counter()
        ddpm.with_sampler(sampler, steps).sample(args.images, seed=0, conditions=wanted)
        wall = time.perf_counter() - started
        task = f"sample {sampler}-{steps}, {args.images} images"
        rows.append((task, steps, wall, f"{args.images / wall:.1f} images/s"))

    for name, params in FAMILY_PARAMS.items():
        timed_fit(name, data, {**params, **common}, 2)  # warm-up
        _, wall = timed_fit(name, data, {**params, **common}, args.train_steps)
        task = f"train {name}, batch {args.batch_size}"
        rows.append((task, args.train_steps, wall, f"{args.train_steps / wall:.1f} steps/s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="DDPM training steps")
    parser.add_argument("--size", type=int, default=16, help="digits resized to size x size")
    parser.add_argument("--images", type=int, default=64, help="images sampled per sampler")
    parser.add_argument("--train-steps", type=int, default=30, help="steps timed per family")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import torch

    device = resolve_device("auto")
    precisions = ["no", "bf16"] if device.startswith("cuda") else ["no"]
    data = load_digits_images(size=args.size)
    results = {precision: run(args, device, precision, data) for precision in precisions}

    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor()
    print(
        f"\ndevice: {device} ({name or platform.machine()}), torch {torch.__version__}, "
        f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads; digits {args.size}x"
        f"{args.size}, conditional, batch {args.batch_size}\n"
    )
    labels = {"no": "fp32", "bf16": "bf16 autocast"}
    header = " | ".join(f"{labels[p]} wall s | {labels[p]} rate" for p in precisions)
    print(f"| task | steps | {header} |")
    print("|---|---|" + "---|---|" * len(precisions))
    for index, (task, steps, _, _) in enumerate(results[precisions[0]]):
        cells = " | ".join(
            f"{results[p][index][2]:.2f} | {results[p][index][3]}" for p in precisions
        )
        print(f"| {task} | {steps} | {cells} |")


if __name__ == "__main__":
    main()
