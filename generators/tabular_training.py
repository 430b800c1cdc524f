"""The training loop of the native tabular generators: a seeded validation split (none on small
tables, which train for a fixed number of passes instead), seeded batches,
AdamW with the step size halved on plateaus, an exponential moving average of the weights, bf16
autocast on CUDA, a progress bar with the losses, and early stopping that keeps the (averaged)
weights of the best validation epoch. `EMA` and `autocast` are the image families' (one
implementation for every torch family).

Reproducibility: the split and every epoch's batch order are seeded by (seed, stream, epoch); the
loss function draws its noise from one generator seeded once for training and re-seeded
identically for every validation pass, so validation losses are comparable across epochs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from generators.images.training import EMA, autocast
from generators.neural_tabular import NeuralTabularConfig
from generators.seeding import derive_seed

# derive_seed keys of this loop's random streams.
SPLIT_STREAM, ORDER_STREAM, NOISE_STREAM, VALIDATION_STREAM = 10, 11, 12, 13
MIN_IMPROVEMENT = 1e-4  # relative: smaller validation gains count as no improvement
CPU_BATCH, CUDA_BATCH = 512, 4096  # upper bounds of the automatic batch size
EVAL_VALUES = 32_768  # input values per validation forward pass (bounds its activations)
MIN_EVAL_ROWS = 2048
MIN_EPOCH_STEPS = 16
# Without validation, at least this many epochs (each >= MIN_EPOCH_STEPS steps): a table of a
# few dozen rows makes one step per pass, so its passes alone would give it a few dozen steps;
# this floor gives it the >= 160 steps that 40 passes give wine (142 rows).
MIN_EPOCHS_WITHOUT_VALIDATION = 10

Batch = dict[str, torch.Tensor]
LossFn = Callable[[nn.Module, Batch, torch.Generator], dict[str, torch.Tensor]]


def auto_batch_size(rows: int, device: str, batches_per_pass: int) -> int:
    """A power of two near rows / batches_per_pass, at least 32, capped per device (a GPU takes
    far more rows per step)."""
    cap = CUDA_BATCH if device.startswith("cuda") else CPU_BATCH
    target = 2 ** round(math.log2(max(rows / batches_per_pass, 1)))
    return int(min(rows, cap, max(32, target)))


def batch_size_for(
    rows: int, config: NeuralTabularConfig, device: str, batches_per_pass: int
) -> int:
    """Rows per step when training on `rows` rows: `config.batch_size`, or automatic."""
    return min(config.batch_size or auto_batch_size(rows, device, batches_per_pass), rows)


def epochs_for_passes(rows: int, batch_size: int, passes: int) -> int:
    """Epochs (as `epoch_batches` plans them) that make at least `passes` passes over `rows`."""
    steps_per_pass = max(rows // batch_size, 1)
    passes_per_epoch = math.ceil(MIN_EPOCH_STEPS / steps_per_pass)
    return math.ceil(passes / passes_per_epoch)


def training_plan(
    config: NeuralTabularConfig, rows: int, device: str, batches_per_pass: int
) -> NeuralTabularConfig:
    """The config to train `rows` rows with: as given, or, when the validation split would be
    smaller than `min_validation_rows` (too noisy to stop on, and rows the model needs), no
    split and a fixed budget of `passes_without_validation` passes over every row."""
    if not config.without_validation(rows):
        return config
    batch_size = batch_size_for(rows, config, device, batches_per_pass)
    epochs = max(
        epochs_for_passes(rows, batch_size, config.passes_without_validation),
        MIN_EPOCHS_WITHOUT_VALIDATION,
    )
    update = {"validation_fraction": 0.0, "max_epochs": min(epochs, config.max_epochs)}
    return config.model_copy(update=update)


def split_rows(rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train / validation row indices; no validation rows when fewer than one would be
    held out or fewer than two would be left to train on."""
    order = np.random.default_rng(derive_seed(seed, SPLIT_STREAM)).permutation(rows)
    held_out = round(rows * fraction)
    if held_out < 1 or rows - held_out < 2:
        return order, order[:0]
    return order[held_out:], order[:held_out]


def train_with_early_stopping(
    *,
    name: str,
    model: nn.Module,
    loss_fn: LossFn,
    data: Batch,
    config: NeuralTabularConfig,
    seed: int,
    device: str,
    batches_per_pass: int,
) -> dict[str, Any]:
    """Train `model` on `data` (tensors with one row per training row, on CPU) with `loss_fn`,
    which returns a dict of scalar losses whose `"loss"` is optimised; returns a JSON-able summary.

    `batches_per_pass` sets the automatic batch size (when `config.batch_size` is None): noisy
    objectives such as diffusion losses want fewer, larger batches.
    """
    rows = next(iter(data.values())).shape[0]
    config = training_plan(config, rows, device, batches_per_pass)
    train_index, val_index = split_rows(rows, config.validation_fraction, seed)
    train = {k: v[torch.from_numpy(train_index)].to(device) for k, v in data.items()}
    val = {k: v[torch.from_numpy(val_index)].to(device) for k, v in data.items()}
    batch_size = batch_size_for(len(train_index), config, device, batches_per_pass)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    # Halving the step size when the monitored loss stalls settles the weights: with a constant
    # rate the last batches' noise shows in the learned marginals.
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=max(config.patience // 4, 1)
    )
    noise = torch.Generator(device).manual_seed(derive_seed(seed, NOISE_STREAM))
    # Judged, kept and returned: the moving average of the weights, which is steadier than the
    # weights after the last step (its marginals are better calibrated).
    ema = EMA(model, config.ema_decay) if config.ema_decay else None
    stopping = EarlyStopping(config.patience) if len(val_index) else None
    history: list[dict[str, float]] = []
    with _progress(name, config, stopping) as bar:
        for epoch in range(1, config.max_epochs + 1):
            batches = epoch_batches(len(train_index), batch_size, seed, epoch, device)
            losses = _train_epoch(model, loss_fn, train, batches, optimizer, ema, noise, config)
            judged = ema.module if ema else model
            stop = False
            if stopping is not None:
                losses["val_loss"] = evaluate(judged, loss_fn, val, config, device, seed)
                stop = stopping.update(epoch, losses["val_loss"], judged)
                bar.set_description(f"{name} fit ({stopping.status()})", refresh=False)
            history.append(losses)
            scheduler.step(losses.get("val_loss", losses["loss"]))
            bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
            bar.update()
            if stop:
                break
    # Without validation: the last (averaged) weights.
    best_state = stopping.best_state if stopping else (ema.module if ema else model).state_dict()
    best_epoch = stopping.best_epoch if stopping else len(history)
    model.load_state_dict(best_state)
    model.eval()
    return {
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "stopped_early": len(history) < config.max_epochs,
        "best_val_loss": round(stopping.best_loss, 6) if stopping else None,
        "last_losses": {k: round(v, 6) for k, v in history[-1].items()},
        "train_rows": len(train_index),
        "validation_rows": len(val_index),
        "batch_size": batch_size,
        "device": device,
        "mixed_precision": config.mixed_precision if device.startswith("cuda") else "no",
    }


@dataclass
class EarlyStopping:
    """The best validation epoch so far, its (averaged) weights, and the patience left."""

    patience: int
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    epoch: int = 0

    def update(self, epoch: int, val_loss: float, judged: nn.Module) -> bool:
        """Record `epoch`'s validation loss (keeping `judged`'s weights when it is the best so
        far); returns whether to stop: `patience` epochs in a row without a better loss."""
        self.epoch = epoch
        if self.best_state is None or val_loss < self.best_loss - MIN_IMPROVEMENT * abs(
            self.best_loss
        ):
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = copy.deepcopy(judged.state_dict())
        return self.patience_left <= 0

    @property
    def patience_left(self) -> int:
        return self.patience - (self.epoch - self.best_epoch)

    def status(self) -> str:
        return (
            f"best epoch {self.best_epoch}, val {self.best_loss:.4f}, "
            f"patience {self.patience_left}/{self.patience}"
        )


def _progress(name: str, config: NeuralTabularConfig, stopping: EarlyStopping | None) -> tqdm:
    """The fit's progress bar. With early stopping, the run ends at an epoch nobody knows yet:
    the bar counts epochs and shows the best epoch and the patience left, with no ETA to
    `max_epochs`. Without it, every epoch up to `max_epochs` runs, so the usual bar is true."""
    if stopping is None:
        return tqdm(total=config.max_epochs, desc=f"{name} fit", disable=not config.verbose)
    return tqdm(
        desc=f"{name} fit",
        disable=not config.verbose,
        unit="epoch",
        bar_format="{desc}epoch {n_fmt} (at most " + str(config.max_epochs) + ") "
        "[{elapsed}, {rate_fmt}{postfix}]",
    )


def epoch_batches(
    rows: int, batch_size: int, seed: int, epoch: int, device: str
) -> list[torch.Tensor]:
    """The row indices of every step of one epoch, seeded by (seed, epoch).

    The last partial batch of a pass joins the previous one (no tiny, noisy step at its end); a
    small table makes several passes, so that every epoch (one validation check, one unit of
    patience) has at least MIN_EPOCH_STEPS optimizer steps.
    """
    per_pass = max(rows // batch_size, 1)
    order_rng = torch.Generator().manual_seed(derive_seed(seed, ORDER_STREAM, epoch))
    batches = []
    for _ in range(math.ceil(MIN_EPOCH_STEPS / per_pass)):
        order = torch.randperm(rows, generator=order_rng).to(device)
        bounds = [*range(0, per_pass * batch_size, batch_size), rows]
        batches += [order[a:b] for a, b in pairwise(bounds)]
    return batches


def _train_epoch(
    model: nn.Module,
    loss_fn: LossFn,
    train: Batch,
    batches: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    ema: EMA | None,
    noise: torch.Generator,
    config: NeuralTabularConfig,
) -> dict[str, float]:
    model.train()
    device = str(next(iter(train.values())).device)
    # Summed on the device: reading a loss every step would wait for the GPU.
    totals: dict[str, torch.Tensor] = {}
    for index in batches:
        with autocast(device, config.mixed_precision):
            losses = loss_fn(model, {k: v[index] for k, v in train.items()}, noise)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if ema is not None:
            ema.update(model)
        for key, value in losses.items():
            totals[key] = totals.get(key, 0.0) + value.detach().float()
    return {key: float(value) / len(batches) for key, value in totals.items()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Batch,
    config: NeuralTabularConfig,
    device: str,
    seed: int,
) -> float:
    """Mean `"loss"` over `data`, with the same noise draws on every call.

    Small validation sets are repeated up to MIN_EVAL_ROWS rows: a noisy loss (a diffusion
    loss draws a timestep and noise per row) then averages over many draws per row, so early
    stopping reacts to the model rather than to the draws.
    """
    model.eval()
    noise = torch.Generator(device).manual_seed(derive_seed(seed, VALIDATION_STREAM))
    repeats = math.ceil(MIN_EVAL_ROWS / next(iter(data.values())).shape[0])
    data = {k: v.repeat_interleave(repeats, dim=0) for k, v in data.items()}
    rows = next(iter(data.values())).shape[0]
    step = max(EVAL_VALUES // sum(v[0].numel() for v in data.values()), 1)
    total = 0.0
    for start in range(0, rows, step):
        batch = {k: v[start : start + step] for k, v in data.items()}
        with autocast(device, config.mixed_precision):
            loss = loss_fn(model, batch, noise)["loss"]
        total += float(loss) * next(iter(batch.values())).shape[0]
    return total / rows
