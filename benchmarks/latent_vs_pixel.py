"""Latent (`ldm`) against pixel (`ddpm`) diffusion at equal training CPU time, side by side.

    python benchmarks/latent_vs_pixel.py [--size default|tiny] [--budget SECONDS]

Per dataset (photo_patches at 32x32 RGB, digits resized to 16x16), each generator is trained at
two CPU-seconds budgets, B/3 and B, and judged on the unseen holdout the job gates use: Fréchet
distance of the validation CNN's features over its real-vs-real floor (`holdout`, the gate) and
the CAS ratio. Budgets count `time.process_time()` of this process (every thread), not the wall
clock, so a comparison taken on a loaded machine stays fair; the speed columns (CPU s per step,
images/s at sampling) are still loaded figures.

A budget becomes steps through a calibration fit: each network's CPU seconds per step, measured
as the difference of a `calibration`-step fit and a 1-step fit (so setup is not counted). `ldm`
spends `VAE_SHARE` of its budget on the autoencoder, the rest on the latent UNet. The table shows
the CPU seconds each fit really took. Sampling: `--images` images balanced over the labels,
DPM-Solver in 20 steps for both.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.images import ImageData, balanced_labels
from generators import create_generator
from sources.images import load_digits_images, load_photo_patches, split_holdout

HOLDOUT_FRACTION = 0.2  # the image jobs' default holdout
VAE_SHARE = 0.4  # the autoencoder's share of `ldm`'s budget (jobs/photo_patches_ldm.yaml: 400/1000)
COMMON = {
    "conditional": True,
    "learning_rate": 1e-3,
    "sampler": "dpm_solver",
    "sampling_steps": 20,
    "cpu_threads": 1,
    "verbose": False,
}
MODELS: dict[str, dict] = {
    "ddpm": {"block_out_channels": (32, 64), "layers_per_block": 1},
    "ldm": {"guidance_scale": 2.0},  # AutoencoderKL 32/64 (side / 2), UNet 32/64 on the latents
}
DATASETS: dict[str, Callable[[], ImageData]] = {
    "photo_patches 32x32 RGB": lambda: load_photo_patches(32),
    "digits 16x16": lambda: load_digits_images(16),
}


@dataclass(frozen=True)
class Size:
    budget_s: float  # B: training CPU seconds of the larger fit
    images: int  # sampled per fit
    batch_size: int
    calibration: int  # steps of the calibration fit
    datasets: Sequence[str] = field(default_factory=lambda: list(DATASETS))
    max_images: int = 2_000  # measure_image_quality's subsample cap
    extractor_steps: int | None = None  # the validation CNN's and CAS classifiers' Adam steps


SIZES = {
    "default": Size(budget_s=90.0, images=300, batch_size=32, calibration=6),
    "tiny": Size(
        budget_s=1.5,
        images=20,
        batch_size=8,
        calibration=3,
        datasets=["digits 16x16"],
        extractor_steps=5,
    ),
}


def cpu_seconds(work: Callable[[], object]) -> tuple[object, float]:
    started = time.process_time()
    result = work()
    return result, time.process_time() - started


def fit(name: str, data: ImageData, size: Size, **steps: int) -> tuple[object, float]:
    params = {**COMMON, **MODELS[name], "batch_size": size.batch_size, **steps}
    return cpu_seconds(lambda: create_generator(name, params).fit(data, seed=0))


def per_step(one: float, many: float, k: int) -> float:
    """CPU s per step from a 1-step and a k-step fit; when timer noise swamps the difference,
    the k-step fit's mean (setup included: fewer steps, never a runaway count)."""
    difference = (many - one) / (k - 1)
    return difference if difference > 0.1 * many / k else many / k


def step_costs(name: str, data: ImageData, size: Size) -> dict[str, float]:
    """CPU seconds per optimizer step of each of `name`'s training stages."""
    k = size.calibration
    if name == "ddpm":
        _, one = fit(name, data, size, steps=1)
        _, many = fit(name, data, size, steps=k)
        return {"steps": per_step(one, many, k)}
    _, one = fit(name, data, size, vae_steps=1, steps=1)
    _, vae = fit(name, data, size, vae_steps=k, steps=1)
    _, unet = fit(name, data, size, vae_steps=1, steps=k)
    return {"vae_steps": per_step(one, vae, k), "steps": per_step(one, unet, k)}


def steps_for(name: str, costs: dict[str, float], budget: float) -> dict[str, int]:
    if name == "ddpm":
        return {"steps": max(1, int(budget / costs["steps"]))}
    return {
        "vae_steps": max(1, int(VAE_SHARE * budget / costs["vae_steps"])),
        "steps": max(1, int((1 - VAE_SHARE) * budget / costs["steps"])),
    }


@dataclass
class Row:
    dataset: str
    model: str
    budget: str
    steps: dict[str, int]
    cost: dict[str, float]
    fit_cpu_s: float
    images_per_s: float
    fd_ratio: float | None
    cas_ratio: float | None


def run_dataset(label: str, size: Size, cache_dir: str) -> list[Row]:
    from validators.image_features import ExtractorConfig
    from validators.image_quality import measure_image_quality

    train, holdout, _ = split_holdout(DATASETS[label](), HOLDOUT_FRACTION, seed=0)
    wanted = balanced_labels(size.images, train.label_names)
    extractor = ExtractorConfig(**({"steps": size.extractor_steps} if size.extractor_steps else {}))
    rows = []
    for name in MODELS:
        costs = step_costs(name, train, size)
        for fraction, budget in ((1 / 3, "B/3"), (1.0, "B")):
            steps = steps_for(name, costs, fraction * size.budget_s)
            generator, fit_cpu = fit(name, train, size, **steps)
            started = time.perf_counter()
            sampled = generator.sample(size.images, seed=1, conditions=wanted)
            rate = size.images / (time.perf_counter() - started)
            quality = measure_image_quality(
                train,
                holdout,
                np.stack(sampled["image"].to_list()),
                sampled["label"].astype(str).tolist(),
                cache_dir=cache_dir,
                max_images=size.max_images,
                extractor_config=extractor,
            )
            floor = quality.holdout.floor.fd.distance
            fd = quality.holdout.synthetic.fd.distance
            rows.append(
                Row(
                    label,
                    name,
                    budget,
                    steps,
                    costs,
                    fit_cpu,
                    rate,
                    fd / floor if floor > 0 else None,
                    quality.cas.ratio if quality.cas else None,
                )
            )
    return rows


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--budget", type=float, help="B, training CPU seconds (default per size)")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    if args.budget:
        size = Size(**{**size.__dict__, "budget_s": args.budget})

    import torch

    with tempfile.TemporaryDirectory(prefix="synthpipe-bench-latent-") as cache_dir:
        rows = [row for label in size.datasets for row in run_dataset(label, size, cache_dir)]
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"\nCPU, torch {torch.__version__}, {os.cpu_count()} cores, 1 torch thread; "
        f"B = {size.budget_s:g} training CPU s, batch {size.batch_size}, {size.images} images "
        f"sampled (dpm_solver-20); loadavg {loadavg}\n"
    )
    print(
        "| dataset | model | budget | steps (vae + unet) | CPU s/step | fit CPU s "
        "| images/s | FD / floor (holdout) | CAS ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        steps = " + ".join(str(r.steps[k]) for k in ("vae_steps", "steps") if k in r.steps)
        cost = " / ".join(f"{r.cost[k]:.3f}" for k in ("vae_steps", "steps") if k in r.cost)
        print(
            f"| {r.dataset} | {r.model} | {r.budget} | {steps} | {cost} | {r.fit_cpu_s:.1f} "
            f"| {r.images_per_s:.1f} | {_fmt(r.fd_ratio)} | {_fmt(r.cas_ratio, 3)} |"
        )


if __name__ == "__main__":
    main()
