"""Every neural generator fitted and sampled on one device: speed, peak GPU memory, and the share
of the card's bf16 peak that DDPM training reaches.

    python benchmarks/gpu.py [--device cuda] [--size full|tiny] [--peak-tflops N]

Tabular families (`argn`, `tabddpm`) fit the built-in `fair` table (6,366 rows) and sample
`rows` rows; image families (`dcgan`, `vae`, `ddpm`) fit digits resized to `image_size` for
`image_steps` steps and sample `images` images. On CUDA every family trains under bf16
autocast where the card supports it (`mixed_precision: bf16`), else fp32. Each family first
runs a short warm-up fit (kernels, allocator) that is not timed.

Printed per family: fit seconds, optimizer steps/s (tabular: including the validation passes),
sample seconds and rows or images per second, and peak GPU memory over fit + sample
(`torch.cuda.max_memory_allocated`). For `ddpm`, the FLOPs of one UNet forward + backward on a
training batch (`torch.utils.flop_counter.FlopCounterMode`: matmuls and convolutions, the usual
model-FLOPs convention) times its steps/s is the achieved rate, shown as a share of the card's
dense bf16 peak (`--peak-tflops`, else looked up by the card's name in PEAK_BF16_TFLOPS).

`--device cpu --size tiny` runs the same code on the CPU in seconds (the test suite does), so the
script stays working on machines without a GPU; GPU memory and peak share are then "—".
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from generators import create_generator, get_generator_class
from generators.device import resolve_device
from generators.images.base import ImageGenerator
from generators.tabular_training import epoch_batches

TABULAR, IMAGES = ("argn", "tabddpm"), ("dcgan", "vae", "ddpm")
# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by a substring of the CUDA device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


@dataclass(frozen=True)
class Size:
    """How big a run is: data, training length and model widths."""

    rows: int  # tabular: training rows (from fair) and rows sampled
    tabular_epochs: int
    image_size: int
    image_steps: int
    images: int
    batch_size: int
    tabular_params: dict[str, dict[str, Any]]
    image_params: dict[str, dict[str, Any]]


SIZES = {
    "full": Size(
        rows=6_366,
        tabular_epochs=30,
        image_size=32,
        image_steps=300,
        images=1_024,
        batch_size=256,
        tabular_params={"argn": {}, "tabddpm": {}},
        image_params={
            "dcgan": {"latent_dim": 64, "base_channels": 64},
            "vae": {"latent_dim": 16, "base_channels": 32},
            "ddpm": {"block_out_channels": (64, 128, 256), "sampling_steps": 50},
        },
    ),
    "tiny": Size(
        rows=300,
        tabular_epochs=1,
        image_size=8,
        image_steps=2,
        images=8,
        batch_size=16,
        tabular_params={
            "argn": {"width": 16, "depth": 1, "heads": 2},
            "tabddpm": {"steps": 10, "hidden": (32,)},
        },
        image_params={
            "dcgan": {"latent_dim": 8, "base_channels": 8},
            "vae": {"latent_dim": 4, "base_channels": 8},
            "ddpm": {"block_out_channels": (16, 32), "sampling_steps": 2},
        },
    ),
}


@dataclass(frozen=True)
class Result:
    name: str
    precision: str
    fit_s: float
    steps: int
    sample_s: float
    sampled: int
    unit: str  # "rows" or "images"
    peak_mib: float | None
    peak_share: float | None  # ddpm only: achieved / peak bf16 FLOP/s


def bf16_supported(device: str) -> bool:
    import torch

    return device.startswith("cuda") and torch.cuda.is_bf16_supported()


def peak_tflops(device: str, given: float | None) -> float | None:
    """The card's dense bf16 peak: `given`, else by its name; None on the CPU or if unknown."""
    if given is not None or not device.startswith("cuda"):
        return given
    import torch

    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def reset_peak_memory(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**20 if device.startswith("cuda") else None


def tabular_steps(generator: Any) -> int:
    """Optimizer steps the last fit ran: its epochs times the steps of one epoch's plan."""
    summary = generator.training_summary
    per_epoch = len(epoch_batches(summary["train_rows"], summary["batch_size"], 0, 1, "cpu"))
    return summary["epochs_run"] * per_epoch


def ddpm_step_flops(generator: Any, batch_size: int, device: str) -> int:
    """FLOPs of one training step's UNet forward + backward on `batch_size` images."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    unet = copy.deepcopy(generator.unet).train().requires_grad_(True)
    spec = generator.spec
    images = torch.randn(batch_size, spec.channels, spec.size, spec.size, device=device)
    t = torch.randint(0, 1000, (batch_size,), device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    with FlopCounterMode(display=False) as counter:
        out = unet(images, t, class_labels=labels if generator.config.conditional else None)
        out.sample.float().square().mean().backward()
    return counter.get_total_flops()


def fit_and_sample(
    name: str, data: Any, params: dict[str, Any], size: Size, device: str, peak: float | None
) -> Result:
    precision = "bf16" if bf16_supported(device) else "no"
    params = {**params, "device": device, "mixed_precision": precision, "verbose": False}
    images = issubclass(get_generator_class(name), ImageGenerator)
    if images:
        params |= {"batch_size": size.batch_size, "conditional": True}
        warm_up, full = {"steps": 2}, {"steps": size.image_steps}
    else:
        warm_up, full = {"max_epochs": 1}, {"max_epochs": size.tabular_epochs}
    create_generator(name, {**params, **warm_up}).fit(data, seed=0).sample(2, seed=0)

    reset_peak_memory(device)
    generator = create_generator(name, {**params, **full})
    started = time.perf_counter()
    generator.fit(data, seed=0)
    synchronize(device)
    fit_s = time.perf_counter() - started
    count = size.images if images else size.rows
    started = time.perf_counter()
    generator.sample(count, seed=0)  # returns host data: the device work is done
    sample_s = time.perf_counter() - started
    steps = size.image_steps if images else tabular_steps(generator)
    share = None
    if name == "ddpm" and peak is not None:
        achieved = ddpm_step_flops(generator, size.batch_size, device) * steps / fit_s
        share = achieved / (peak * 1e12)
    return Result(
        name=name,
        precision="bf16 autocast" if precision == "bf16" else "fp32",
        fit_s=fit_s,
        steps=steps,
        sample_s=sample_s,
        sampled=count,
        unit="images" if images else "rows",
        peak_mib=peak_memory_mib(device),
        peak_share=share,
    )


def run(device: str, size: Size, peak: float | None) -> list[Result]:
    from sources.images import load_digits_images
    from sources.tables import load_builtin

    table = load_builtin("fair")
    table = table.sample(n=min(size.rows, len(table)), random_state=0).reset_index(drop=True)
    digits = load_digits_images(size=size.image_size)
    results = []
    for name in TABULAR:
        results.append(fit_and_sample(name, table, size.tabular_params[name], size, device, peak))
    for name in IMAGES:
        results.append(fit_and_sample(name, digits, size.image_params[name], size, device, peak))
    return results


def markdown(results: list[Result]) -> str:
    def cell(value: float | None, pattern: str) -> str:
        return "—" if value is None else pattern.format(value)

    lines = [
        "| generator | precision | fit s | steps | steps/s | sample s | sampled/s | "
        "peak GPU MiB | DDPM share of bf16 peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.precision} | {r.fit_s:.2f} | {r.steps} | "
            f"{r.steps / r.fit_s:.1f} | {r.sample_s:.2f} | "
            f"{r.sampled / r.sample_s:,.0f} {r.unit} | {cell(r.peak_mib, '{:,.0f}')} | "
            f"{cell(r.peak_share, '{:.1%}')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--peak-tflops", type=float, help="the card's dense bf16 peak (default: by its name)"
    )
    args = parser.parse_args(argv)

    import torch

    device = resolve_device(args.device)
    peak = peak_tflops(device, args.peak_tflops)
    results = run(device, SIZES[args.size], peak)
    card = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    print(
        f"\ndevice: {device} ({card}), torch {torch.__version__}, size {args.size}, "
        f"{torch.get_num_threads()} torch threads, bf16 peak "
        f"{'unknown' if peak is None else f'{peak:g} TFLOP/s'}\n"
    )
    print(markdown(results))


if __name__ == "__main__":
    main()
