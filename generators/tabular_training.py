"""The training loop of the native tabular generators: a seeded validation split (none on small
tables, which train for a fixed number of passes instead), seeded batches,
AdamW with the step size halved on plateaus, an exponential moving average of the weights, bf16
autocast on CUDA, a progress bar with the losses, and early stopping that keeps the (averaged)
weights of the best validation epoch. `EMA` and `autocast` are the image families' (one
implementation for every torch family).

Reproducibility: the split and every epoch's batch order are seeded by (seed, stream, epoch); the
loss function draws its noise from one generator seeded once for training and re-seeded
identically for every validation pass, so validation losses are comparable across epochs.

With a `PrivacyCheck`, the kept epoch must also pass a privacy signal: each epoch that improves
the validation loss is probed for the DCR share of its samples (`generators.tabular_privacy`)
against equally many training and validation rows, and kept only if the share is within the
check's limit; patience counts from the last kept epoch, so training stops once the epochs that
still fit better have started to sit closer to the training rows than to unseen ones.
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
SPLIT_STREAM, ORDER_STREAM, NOISE_STREAM, VALIDATION_STREAM, PRIVACY_STREAM = 10, 11, 12, 13, 14
MIN_IMPROVEMENT = 1e-4  # relative: smaller validation gains count as no improvement
CPU_BATCH, CUDA_BATCH = 512, 4096  # upper bounds of the automatic batch size
EVAL_VALUES = 32_768  # input values per validation forward pass (bounds its activations)
MIN_EVAL_ROWS = 2048
# A large table's validation loss is taken on its first MAX_EVAL_ROWS validation rows (they are a
# seeded random draw): more rows steady it no further, and scoring them every epoch costs.
MAX_EVAL_ROWS = 8192
# Steps per epoch: at least MIN_EPOCH_STEPS (a small table makes several passes), at most
# MAX_EPOCH_STEPS (a large table's epoch is a seeded draw of that many batches, not a whole pass,
# so that validation, patience and the privacy probe look at the model every ~32k rows on CPU
# instead of once per pass of 100k+ rows, which stopped a full pass too late).
MIN_EPOCH_STEPS, MAX_EPOCH_STEPS = 16, 64
# Without validation, at least this many epochs (each >= MIN_EPOCH_STEPS steps): a table of a
# few dozen rows makes one step per pass, so its passes alone would give it a few dozen steps;
# this floor gives it the >= 80 steps that 20 passes give wine (142 rows).
MIN_EPOCHS_WITHOUT_VALIDATION = 5

Batch = dict[str, torch.Tensor]
LossFn = Callable[[nn.Module, Batch, torch.Generator], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class PrivacyCheck:
    """Model selection by privacy as well as validation loss (see the module docstring).

    `share(model, train_rows, validation_rows)` estimates the DCR share of the model's samples
    against the two row sets (equally many, at most `rows`, chosen once and seeded); an epoch
    whose share exceeds `limit` is not kept. When no epoch passes, the lowest share is kept.
    """

    share: Callable[[nn.Module, Batch, Batch], float]
    limit: float
    rows: int = 1000


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
    stochastic_loss: bool = True,
    privacy: PrivacyCheck | None = None,
) -> dict[str, Any]:
    """Train `model` on `data` (tensors with one row per training row, on CPU) with `loss_fn`,
    which returns a dict of scalar losses whose `"loss"` is optimised; returns a JSON-able summary.

    `batches_per_pass` sets the automatic batch size (when `config.batch_size` is None): noisy
    objectives such as diffusion losses want fewer, larger batches. `stochastic_loss=False` says
    the loss draws no noise, so validation rows are scored once, not repeated. `privacy` adds the
    privacy signal to the choice of the epoch kept (only with a validation split).
    """
    rows = next(iter(data.values())).shape[0]
    config = training_plan(config, rows, device, batches_per_pass)
    train_index, val_index = split_rows(rows, config.validation_fraction, seed)
    train = {k: v[torch.from_numpy(train_index)].to(device) for k, v in data.items()}
    val = {k: v[torch.from_numpy(val_index)].to(device) for k, v in data.items()}
    scored = {k: v[:MAX_EVAL_ROWS] for k, v in val.items()}
    probe = _privacy_rows(train, val, privacy.rows, seed) if privacy and len(val_index) else None
    batch_size = batch_size_for(len(train_index), config, device, batches_per_pass)
    # fused: one kernel for every parameter instead of a loop over small tensors (CPU and CUDA).
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
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
    stopping = EarlyStopping(config.patience, privacy) if len(val_index) else None
    history: list[dict[str, float]] = []
    with _progress(name, config, stopping) as bar:
        for epoch in range(1, config.max_epochs + 1):
            batches = epoch_batches(len(train_index), batch_size, seed, epoch, device)
            losses = _train_epoch(model, loss_fn, train, batches, optimizer, ema, noise, config)
            judged = ema.module if ema else model
            stop = False
            if stopping is not None:
                losses["val_loss"] = evaluate(
                    judged, loss_fn, scored, config, device, seed, repeat=stochastic_loss
                )
                share = None if probe is None else (lambda m: privacy.share(m, *probe))
                stop = stopping.update(epoch, losses, judged, share)
                bar.set_description(f"{name} fit ({stopping.status()})", refresh=False)
            history.append(losses)
            scheduler.step(losses.get("val_loss", losses["loss"]))
            bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
            bar.update()
            if stop:
                break
    if stopping is not None:
        best_epoch, best_state = stopping.kept()
    else:  # without validation: the last (averaged) weights
        best_epoch, best_state = len(history), (ema.module if ema else model).state_dict()
    model.load_state_dict(best_state)
    model.eval()
    return {
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "stopped_early": len(history) < config.max_epochs,
        "best_val_loss": round(stopping.best_loss, 6) if stopping and stopping.best_epoch else None,
        "privacy_limit": privacy.limit if probe is not None else None,
        "best_dcr_share": stopping.kept_share() if stopping else None,
        "last_losses": {k: round(v, 6) for k, v in history[-1].items()},
        "train_rows": len(train_index),
        "validation_rows": len(val_index),
        "batch_size": batch_size,
        "device": device,
        "mixed_precision": config.mixed_precision if device.startswith("cuda") else "no",
    }


@dataclass
class EarlyStopping:
    """The best validation epoch so far, its (averaged) weights, and the patience left; with a
    PrivacyCheck, only epochs within its limit count as best, and the lowest-share epoch is kept
    as the fallback when none is."""

    patience: int
    privacy: PrivacyCheck | None = None
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    best_share: float | None = None
    fallback: tuple[float, int, dict[str, torch.Tensor]] | None = None  # lowest share seen
    epoch: int = 0

    def update(
        self,
        epoch: int,
        losses: dict[str, float],
        judged: nn.Module,
        share: Callable[[nn.Module], float] | None = None,
    ) -> bool:
        """Record `epoch`'s validation loss (keeping `judged`'s weights when it is the best so
        far and, given `share`, its samples' DCR share is within the limit; the share goes into
        `losses`); returns whether to stop: `patience` epochs in a row without a kept epoch."""
        self.epoch = epoch
        val_loss = losses["val_loss"]
        improved = math.isinf(self.best_loss) or val_loss < self.best_loss - MIN_IMPROVEMENT * abs(
            self.best_loss
        )
        # Only an epoch that would be kept is probed: the others cannot be chosen.
        if improved and share is not None and self.privacy is not None:
            losses["dcr_share"] = share(judged)
            if losses["dcr_share"] > self.privacy.limit:
                improved = False
                if self.fallback is None or losses["dcr_share"] < self.fallback[0]:
                    state = copy.deepcopy(judged.state_dict())
                    self.fallback = (losses["dcr_share"], epoch, state)
        if improved:
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = copy.deepcopy(judged.state_dict())
            self.best_share = losses.get("dcr_share")
        return self.patience_left <= 0

    def kept(self) -> tuple[int, dict[str, torch.Tensor]]:
        """The epoch kept and its weights: the best within the privacy limit, else the one with
        the lowest share."""
        if self.best_state is None and self.fallback is not None:
            self.best_share, epoch, state = self.fallback
            return epoch, state
        assert self.best_state is not None
        return self.best_epoch, self.best_state

    def kept_share(self) -> float | None:
        return None if self.best_share is None else round(self.best_share, 4)

    @property
    def patience_left(self) -> int:
        return self.patience - (self.epoch - self.best_epoch)

    def status(self) -> str:
        return (
            f"best epoch {self.best_epoch}, val {self.best_loss:.4f}, "
            f"patience {self.patience_left}/{self.patience}"
        )


def _privacy_rows(train: Batch, val: Batch, most: int, seed: int) -> tuple[Batch, Batch]:
    """Equally many (at most `most`) seeded training and validation rows for a PrivacyCheck."""
    rng = np.random.default_rng(derive_seed(seed, PRIVACY_STREAM))
    sizes = next(iter(train.values())).shape[0], next(iter(val.values())).shape[0]
    count = min(most, *sizes)
    picks = [torch.from_numpy(rng.choice(size, count, replace=False)) for size in sizes]
    return (
        {k: v[picks[0].to(v.device)] for k, v in train.items()},
        {k: v[picks[1].to(v.device)] for k, v in val.items()},
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
    patience) has at least MIN_EPOCH_STEPS optimizer steps; a large one takes MAX_EPOCH_STEPS
    batches of a fresh seeded order.
    """
    per_pass = max(rows // batch_size, 1)
    order_rng = torch.Generator().manual_seed(derive_seed(seed, ORDER_STREAM, epoch))
    if per_pass > MAX_EPOCH_STEPS:
        order = torch.randperm(rows, generator=order_rng).to(device)
        return list(order[: MAX_EPOCH_STEPS * batch_size].split(batch_size))
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
    *,
    repeat: bool = True,
) -> float:
    """Mean `"loss"` over `data`, with the same noise draws on every call.

    With `repeat`, small validation sets are repeated up to MIN_EVAL_ROWS rows: a noisy loss (a
    diffusion loss draws a timestep and noise per row) then averages over many draws per row, so
    early stopping reacts to the model rather than to the draws. A loss without draws gains
    nothing from repeats.
    """
    model.eval()
    noise = torch.Generator(device).manual_seed(derive_seed(seed, VALIDATION_STREAM))
    rows = next(iter(data.values())).shape[0]
    repeats = math.ceil(MIN_EVAL_ROWS / rows) if repeat else 1
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
