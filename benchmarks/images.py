"""Image generators side by side: sampling speed per scheduler of one trained DDPM, and training
speed per family, on CUDA when present (fp32 and bf16 autocast) or the CPU.

    python benchmarks/images.py [--steps 300] [--size 16] [--images 64] [--train-steps 30]

Trains a small class-conditional DDPM on digits for `--steps`, then samples `--images` images
(balanced over the labels) with ddpm-1000, ddim-50 and dpm_solver-20 from the same weights.
Training speed is steps/s over `--train-steps` steps at `--batch-size` after a 2-step warm-up.
Every timing ends with the results on the host (sample returns numpy, fit reads the losses), so
CUDA work is finished when the clock stops.

`--pretrained-only` runs only the `pretrained` table: a tiny random Stable Diffusion folder
(`generators.images.tiny_pipeline`, 16x16 RGB) loaded through the generator, per precision: the
fit (folder checks + sha256 of every file), the first 1-image sample (incl. `from_pretrained`),
`--images` images at `--pretrained-steps` steps, and `--lora-steps` LoRA steps; wall and CPU
seconds. bf16 rows run on CUDA only.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from core.images import balanced_labels
from generators import create_generator
from generators.device import resolve_device
from generators.images.tiny_pipeline import write_tiny_pipeline
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


def clocked(work) -> tuple[object, float, float]:
    """`work()`'s result, wall seconds and CPU seconds (every thread of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


PretrainedRow = tuple[str, float, float, str]  # task, wall s, CPU s, rate


def run_pretrained(args: argparse.Namespace, device: str, dtype: str, folder: Path, data):
    params = {
        "path": str(folder),
        "device": device,
        "dtype": dtype,
        "num_inference_steps": args.pretrained_steps,
        "sample_batch_size": args.batch_size,
        "verbose": False,
    }
    labels = [data.label_names[i % data.num_classes] for i in range(args.images)]
    wanted = pd.DataFrame({"prompt": [f"a photo of a {x}" for x in labels], "label": labels})
    generator, fit_wall, fit_cpu = clocked(
        lambda: create_generator("pretrained", params).fit(data, seed=0)
    )
    rows: list[PretrainedRow] = [("fit: folder checks + sha256", fit_wall, fit_cpu, "")]
    _, wall, cpu = clocked(lambda: generator.sample(1, seed=0, conditions=wanted.head(1)))
    rows.append(("first sample, 1 image (incl. load)", wall, cpu, ""))
    _, wall, cpu = clocked(lambda: generator.sample(args.images, seed=1, conditions=wanted))
    task = f"sample {args.images} images, {args.pretrained_steps} steps"
    rows.append((task, wall, cpu, f"{args.images / wall:.1f} images/s"))
    lora = {"lora": {"rank": 4, "steps": args.lora_steps, "learning_rate": 1e-4}}
    _, wall, cpu = clocked(
        lambda: create_generator("pretrained", {**params, **lora}).fit(data, seed=0)
    )
    task = f"fit LoRA rank 4, {args.lora_steps} steps, batch {args.batch_size} (incl. load)"
    rows.append((task, wall, cpu, f"{args.lora_steps / wall:.1f} steps/s"))
    return rows


def pretrained_table(args: argparse.Namespace, device: str, data) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_tiny_pipeline(Path(scratch) / "tiny-sd")
        cuda = device.startswith("cuda")
        results = {
            dtype: run_pretrained(args, device, dtype, folder, data)
            if cuda or dtype == "fp32"
            else None
            for dtype in ("fp32", "bf16")
        }
    print(f"\npretrained: tiny random Stable Diffusion (16x16 RGB), {device}\n")
    print("| task | fp32 wall s | fp32 CPU s | fp32 rate | bf16 wall s | bf16 CPU s | bf16 rate |")
    print("|---|---|---|---|---|---|---|")
    for index, (task, wall, cpu, rate) in enumerate(results["fp32"]):
        bf16 = results["bf16"]
        other = (
            "CUDA only, not run | | "
            if bf16 is None
            else f"{bf16[index][1]:.2f} | {bf16[index][2]:.2f} | {bf16[index][3]}"
        )
        print(f"| {task} | {wall:.2f} | {cpu:.2f} | {rate} | {other} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="DDPM training steps")
    parser.add_argument("--size", type=int, default=16, help="digits resized to size x size")
    parser.add_argument("--images", type=int, default=64, help="images sampled per sampler")
    parser.add_argument("--train-steps", type=int, default=30, help="steps timed per family")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pretrained-only", action="store_true", help="only the pretrained table")
    parser.add_argument("--pretrained-steps", type=int, default=20, help="denoising steps")
    parser.add_argument("--lora-steps", type=int, default=20, help="LoRA steps timed")
    args = parser.parse_args()

    import torch

    device = resolve_device("auto")
    if args.pretrained_only:
        pretrained_table(args, device, load_digits_images(size=args.size))
        return
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
    pretrained_table(args, device, data)


if __name__ == "__main__":
    main()
