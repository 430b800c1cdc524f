"""The training loop every image family shares.

One family supplies its modules, optimizers, optional EMA and a `step(images, labels, rng)` that
runs one optimizer step and returns its losses; `train` adds the rest: seeded batches, the
learning-rate schedule (warm-up, then constant or cosine), a progress bar with the losses, EMA
updates and checkpoints with exact resume.

Reproducibility: batch order is a permutation per epoch seeded by (seed, epoch), so it is a pure
function of the step; every other random draw (latents, timesteps, reparameterisation noise) comes
from one `rng` generator whose state is checkpointed. A resumed CPU run therefore ends with the
same weights as an uninterrupted one.

Checkpoints are `<checkpoint_dir>/step-<N>/state.safetensors` (weights, optimizer tensors, EMA,
RNG state) + `state.json` (step, seed, config, optimizer hyper-parameters); no pickle. Only the
latest is kept; it is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from core.errors import ConfigError
from core.images import ImageData
from generators.images.base import ImageGeneratorConfig
from generators.seeding import derive_seed

STATE_TENSORS, STATE_JSON = "state.safetensors", "state.json"
CHECKPOINT_PREFIX = "step-"
LOG_EVERY = 10  # reading a loss waits for the GPU, so the bar refreshes its losses every 10 steps
RNG_STREAM, ORDER_STREAM = 2, 3  # derive_seed keys for the step noise and the batch order

StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Generator], dict[str, torch.Tensor]]


def autocast(device: str, mixed_precision: str) -> AbstractContextManager:
    """bf16 autocast on CUDA when asked for; a no-op on CPU, where it would change results."""
    if mixed_precision == "bf16" and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


class EMA:
    """An exponential moving average of a module's weights, kept in a frozen copy (`module`).

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates (diffusers' EMAModel
    default), so short runs are not dominated by the random initial weights.
    """

    def __init__(self, module: nn.Module, decay: float):
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        averages, params = list(self.module.parameters()), list(source.parameters())
        if len(averages) != len(params):
            raise ValueError("EMA.update: the source module's parameters differ from the average's")
        # One fused call: a per-tensor loop costs ~7% of a small UNet step on CPU.
        torch._foreach_lerp_(averages, params, 1 - decay)
        for average, buffer in zip(self.module.buffers(), source.buffers(), strict=True):
            average.copy_(buffer)


@dataclass
class TrainState:
    """What a checkpoint holds besides the step and the RNG: modules, optimizers, EMAs by name
    (an EMA is keyed by the name of the module it averages)."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    ema: dict[str, EMA] = field(default_factory=dict)


def train(
    *,
    name: str,
    config: ImageGeneratorConfig,
    seed: int,
    data: ImageData,
    device: str,
    state: TrainState,
    step: StepFn,
) -> dict[str, Any]:
    """Run `step` from the latest checkpoint (or 0) to `config.steps`; returns the run's info.

    `step` gets images `(B, C, H, W)` in [0, 1] and labels `(B,)` on `device`, and `rng`, the
    generator on `device` to draw all of the step's noise from.
    """
    images = torch.from_numpy(data.images).to(device)  # (N, C, H, W)
    labels = torch.from_numpy(data.labels).to(device)  # (N,)
    rng = torch.Generator(device).manual_seed(derive_seed(seed, RNG_STREAM))
    order = BatchOrder(len(data), config.batch_size, seed)
    checkpoints = None
    if config.checkpoint_dir is not None:
        identity = {
            "generator": name,
            "seed": seed,
            "data": data.fingerprint(),
            # A resumed run may train for more steps; the rest of what shapes the model must match.
            "config": {k: v for k, v in config.learned_params().items() if k != "steps"},
        }
        checkpoints = Checkpoints(Path(config.checkpoint_dir), identity)
    for optimizer in state.optimizers.values():
        for group in optimizer.param_groups:
            # Set before restoring, so a checkpoint (whose lr is mid-schedule) keeps the base.
            group.setdefault("base_lr", group["lr"])
    start = checkpoints.restore(state, rng, config.steps) if checkpoints else 0

    every = config.checkpoint_every or config.steps  # no interval: only the last step
    for module in state.modules.values():
        module.train()
    losses: dict[str, torch.Tensor] = {}
    with tqdm(
        total=config.steps, initial=start, desc=f"{name} fit", disable=not config.verbose
    ) as bar:
        for done in range(start + 1, config.steps + 1):
            factor = learning_rate_factor(done - 1, config)
            for optimizer in state.optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = group["base_lr"] * factor
            index = order.batch(done - 1).to(device)
            losses = step(images[index], labels[index], rng)
            for module_name, ema in state.ema.items():
                ema.update(state.modules[module_name])
            if checkpoints and (done % every == 0 or done == config.steps):
                checkpoints.save(state, rng, done)
            if done % LOG_EVERY == 0 or done == config.steps:
                bar.set_postfix({k: f"{v.item():.4f}" for k, v in losses.items()})
            bar.update()
    for module in state.modules.values():
        module.eval()
    return {
        "steps": config.steps,
        "resumed_from_step": start or None,
        "device": device,
        "mixed_precision": config.mixed_precision if device.startswith("cuda") else "no",
        "losses": {k: round(v.item(), 6) for k, v in losses.items()},
    }


def learning_rate_factor(step: int, config: ImageGeneratorConfig) -> float:
    """The multiplier of every base learning rate at 0-based `step`: a linear warm-up over
    `warmup_steps`, then constant or a cosine anneal that reaches ~0 at the last step."""
    warmup = min(config.warmup_steps, config.steps)
    if step < warmup:
        return (step + 1) / warmup
    if config.lr_schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(config.steps - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * progress))


class BatchOrder:
    """Batch indices for each step: epoch e is a permutation seeded by (seed, e).

    Each epoch drops its last partial batch so every batch has the same size (batchnorm
    statistics); a data set smaller than `batch_size` is used whole.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.batch_size
        self._epoch, self._permutation = -1, torch.empty(0, dtype=torch.int64)

    def batch(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator().manual_seed(derive_seed(self.seed, ORDER_STREAM, epoch))
            self._epoch, self._permutation = epoch, torch.randperm(self.n, generator=rng)
        return self._permutation[position * self.batch_size : (position + 1) * self.batch_size]


class Checkpoints:
    """The latest training checkpoint in one folder, written and restored as a whole."""

    def __init__(self, directory: Path, identity: dict[str, Any]):
        self.directory = directory
        # generator, seed, data fingerprint and learned-model config: a resumed run must match.
        self.identity = identity

    def latest(self) -> Path | None:
        found = sorted(self.directory.glob(f"{CHECKPOINT_PREFIX}*/{STATE_JSON}"))
        return found[-1].parent if found else None

    def save(self, state: TrainState, rng: torch.Generator, step: int) -> Path:
        tensors: dict[str, torch.Tensor] = {"rng": rng.get_state()}
        optimizers: dict[str, Any] = {}
        for name, module in state.modules.items():
            tensors |= _prefixed(f"module.{name}", module.state_dict())
        for name, ema in state.ema.items():
            tensors |= _prefixed(f"ema.{name}", ema.module.state_dict())
        for name, optimizer in state.optimizers.items():
            optimizer_tensors, optimizers[name] = _split_optimizer_state(optimizer.state_dict())
            tensors |= _prefixed(f"optimizer.{name}", optimizer_tensors)

        final = self.directory / f"{CHECKPOINT_PREFIX}{step:08d}"
        partial = self.directory / f".{final.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, partial / STATE_TENSORS
        )
        meta = {"step": step, **self.identity, "optimizers": optimizers}
        (partial / STATE_JSON).write_text(json.dumps(meta, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        for older in self.directory.glob(f"{CHECKPOINT_PREFIX}*"):
            if older != final:
                shutil.rmtree(older)
        return final

    def restore(self, state: TrainState, rng: torch.Generator, steps: int) -> int:
        """Load the latest checkpoint into `state` and `rng`; returns its step (0 if none)."""
        path = self.latest()
        if path is None:
            return 0
        meta = json.loads((path / STATE_JSON).read_text())
        self._check_compatible(path, meta, steps)
        tensors = load_file(path / STATE_TENSORS)
        rng.set_state(tensors["rng"])
        for name, module in state.modules.items():
            module.load_state_dict(_unprefixed(f"module.{name}", tensors))
        for name, ema in state.ema.items():
            ema.module.load_state_dict(_unprefixed(f"ema.{name}", tensors))
            ema.updates = meta["step"]
        for name, optimizer in state.optimizers.items():
            optimizer.load_state_dict(
                _join_optimizer_state(
                    _unprefixed(f"optimizer.{name}", tensors), meta["optimizers"][name]
                )
            )
        return int(meta["step"])

    def _check_compatible(self, path: Path, meta: dict[str, Any], steps: int) -> None:
        problems = []
        for key in ("generator", "seed", "data"):
            if meta[key] != self.identity[key]:
                what = "training data fingerprint" if key == "data" else key
                problems.append(
                    f"  - {what}: checkpoint {meta[key]!r}, this run {self.identity[key]!r}"
                )
        saved, current = meta["config"], self.identity["config"]
        for key in sorted(set(saved) | set(current)):
            if saved.get(key) != current.get(key):
                problems.append(
                    f"  - {key}: checkpoint {saved.get(key)!r}, this run {current.get(key)!r}"
                )
        if problems:
            raise ConfigError(
                f"Cannot resume from checkpoint {path}: it was trained differently:\n"
                + "\n".join(problems)
                + "\nUse the checkpoint's settings, or a fresh checkpoint_dir to start over."
            )
        if meta["step"] > steps:
            raise ConfigError(
                f"Checkpoint {path} is at step {meta['step']}, beyond steps={steps}; set steps to "
                f"at least {meta['step']} or use a fresh checkpoint_dir."
            )


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{key}": value for key, value in tensors.items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _split_optimizer_state(
    state_dict: dict[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer state dict as tensors `<param id>.<key>` + the JSON-able rest."""
    tensors, scalars = {}, {}
    for param_id, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{key}"] = value
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, name = key.split(".", 1)
        state.setdefault(int(param_id), {})[name] = value
    for param_id, entries in rest["scalars"].items():
        state.setdefault(int(param_id), {}).update(entries)
    return {"state": state, "param_groups": rest["param_groups"]}
