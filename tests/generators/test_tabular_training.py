"""The tabular training loop: the batch plan (every row once per pass, no tiny last step, enough
steps per epoch on small tables, seeded by (seed, epoch)), the small-table plan of both native
families, and the early-stopping state the progress bar shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from generators import create_generator, get_generator_class
from generators.tabular_training import (
    MAX_EPOCH_STEPS,
    MIN_EPOCH_STEPS,
    MIN_EPOCHS_WITHOUT_VALIDATION,
    EarlyStopping,
    batch_size_for,
    epoch_batches,
    epochs_for_passes,
    training_plan,
)


def test_epoch_batches_cover_each_row_once_per_pass_without_a_tiny_last_batch():
    # Run: 100 rows in batches of 32: 3 per pass, the 4 leftover rows join the third
    batches = epoch_batches(100, 32, seed=0, epoch=1, device="cpu")

    # Assert
    passes = len(batches) // 3
    assert len(batches) >= MIN_EPOCH_STEPS and len(batches) % 3 == 0
    assert [len(b) for b in batches[:3]] == [32, 32, 36]
    for start in range(0, passes * 3, 3):
        rows = torch.cat(batches[start : start + 3])
        assert sorted(rows.tolist()) == list(range(100))


def test_epoch_batches_of_a_large_table_are_a_capped_draw_of_distinct_rows():
    # Run: 100,000 rows in batches of 512 would be 195 steps per pass
    batches = epoch_batches(100_000, 512, seed=0, epoch=1, device="cpu")
    later = epoch_batches(100_000, 512, seed=0, epoch=2, device="cpu")

    # Assert
    rows = torch.cat(batches)
    assert len(batches) == MAX_EPOCH_STEPS and {len(b) for b in batches} == {512}
    assert len(set(rows.tolist())) == len(rows)
    assert not torch.equal(rows, torch.cat(later))


def test_epoch_batches_are_seeded_by_seed_and_epoch():
    # Run
    first = torch.cat(epoch_batches(50, 8, seed=0, epoch=1, device="cpu"))
    again = torch.cat(epoch_batches(50, 8, seed=0, epoch=1, device="cpu"))
    next_epoch = torch.cat(epoch_batches(50, 8, seed=0, epoch=2, device="cpu"))
    other_seed = torch.cat(epoch_batches(50, 8, seed=1, epoch=1, device="cpu"))

    # Assert
    assert torch.equal(first, again)
    assert not torch.equal(first, next_epoch) and not torch.equal(first, other_seed)


@pytest.mark.parametrize(
    ("rows", "batch_size", "passes"), [(40, 32, 1), (300, 32, 40), (5000, 256, 7)]
)
def test_epochs_for_passes_plan_at_least_that_many_passes(rows, batch_size, passes):
    # Run
    epochs = epochs_for_passes(rows, batch_size, passes)

    # Assert: the epochs' batches cover every row at least `passes` times, one epoch fewer not
    def covered(epoch_count: int) -> int:
        seen = [torch.cat(epoch_batches(rows, batch_size, 0, e, "cpu")) for e in range(epoch_count)]
        return int(torch.bincount(torch.cat(seen), minlength=rows).min()) if seen else 0

    assert covered(epochs) >= passes > covered(epochs - 1)


@pytest.mark.parametrize("name", ["argn", "tabddpm"])
def test_training_plan_small_table_trains_for_its_passes_within_max_epochs(name):
    # Setup: 300 rows would hold out 30 for validation, below min_validation_rows; the epochs
    # that make 120 passes over them
    config = get_generator_class(name).config_class(passes_without_validation=120)
    batch = batch_size_for(300, config, "cpu", 4)
    epochs = epochs_for_passes(300, batch, 120)

    # Run
    planned = training_plan(config, 300, "cpu", 4)
    capped = training_plan(config.model_copy(update={"max_epochs": 3}), 300, "cpu", 4)
    large = training_plan(config, 5000, "cpu", 4)

    # Assert
    assert epochs > MIN_EPOCHS_WITHOUT_VALIDATION
    assert planned.max_epochs == epochs and planned.validation_fraction == 0
    assert capped.max_epochs == 3
    assert large == config


def test_early_stopping_counts_patience_from_the_best_epoch_and_keeps_its_weights():
    # Setup
    stopping, net = EarlyStopping(patience=2), nn.Linear(1, 1)

    # Run
    first = stopping.update(1, {"val_loss": 1.0}, net)
    with torch.no_grad():
        net.weight.fill_(7.0)
    best = stopping.update(2, {"val_loss": 0.5}, net)
    worse = stopping.update(3, {"val_loss": 0.6}, net)
    status = stopping.status()
    last = stopping.update(4, {"val_loss": 0.7}, net)

    # Assert
    assert not (first or best or worse) and last
    assert stopping.best_epoch == 2 and float(stopping.best_state["weight"]) == 7.0
    assert status == "best epoch 2, val 0.5000, patience 1/2"


def test_fit_progress_bar_shows_best_epoch_and_patience_not_an_eta_to_max_epochs(capsys):
    # Setup: 2,000 rows hold out 200 for validation, so early stopping runs
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.choice(["a", "b"], 2000)})
    params = {"steps": 10, "hidden": [16], "max_epochs": 6, "patience": 3, "cpu_threads": 1}

    # Run
    fitted = create_generator("tabddpm", {**params, "verbose": True}).fit(frame, seed=0)

    # Assert: the last refresh names the best epoch and the patience left after the last epoch
    summary = fitted.training_summary
    left = 3 - (summary["epochs_run"] - summary["best_epoch"])
    bar = capsys.readouterr().err.split("\r")[-1]
    assert f"tabddpm fit (best epoch {summary['best_epoch']}, val " in bar
    assert f"patience {left}/3)" in bar
    assert f"epoch {summary['epochs_run']} (at most 6)" in bar and "<" not in bar
