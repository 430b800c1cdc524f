"""The privacy signal of model selection: the DCR share of samples in token coordinates, and the
training loop's choice of the epoch to keep when a privacy check is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from generators.neural_tabular import NeuralTabularConfig
from generators.tabular_privacy import dcr_share
from generators.tabular_training import MIN_EPOCH_STEPS, PrivacyCheck, train_with_early_stopping


def _rows(ordered: list[list[float]], codes: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(ordered, dtype=float), np.asarray(codes, dtype=np.int64)


TRAIN = _rows([[0.1], [0.5], [0.9]], [[0], [1], [2]])
VALIDATION = _rows([[0.2], [0.6], [0.8]], [[0], [1], [2]])


def test_copies_of_training_rows_score_one_and_of_validation_rows_zero():
    # Run / Assert
    assert dcr_share(TRAIN, TRAIN, VALIDATION) == 1.0
    assert dcr_share(VALIDATION, TRAIN, VALIDATION) == 0.0


def test_rows_halfway_between_or_equally_far_count_half():
    # Setup: 0.15 is as far from 0.1 (train) as from 0.2 (validation), 0.55 from 0.5 and 0.6;
    # code 7 differs from every code, so it adds the same to both distances
    synthetic = _rows([[0.15], [0.55]], [[0], [7]])

    # Run / Assert
    assert dcr_share(synthetic, TRAIN, VALIDATION) == pytest.approx(0.5)


def test_missing_values_match_missing_values_and_differ_from_any_value():
    # Setup: training row missing, validation row present
    train = _rows([[np.nan]], [[0]])
    validation = _rows([[0.5]], [[0]])

    # Run / Assert
    assert dcr_share(_rows([[np.nan]], [[0]]), train, validation) == 1.0
    assert dcr_share(_rows([[0.4]], [[0]]), train, validation) == 0.0


def test_unequal_reference_sizes_raise_value_error():
    # Run / Assert
    with pytest.raises(ValueError, match="equally many"):
        dcr_share(TRAIN, TRAIN, _rows([[0.2]], [[0]]))


class Counter(nn.Module):
    """One weight pulled towards a far target (the validation loss falls every epoch) and a
    count of training steps, which the constructed privacy signal below reads."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.register_buffer("steps", torch.zeros(()))


def _loss(model: nn.Module, batch: dict[str, torch.Tensor], _noise: torch.Generator) -> dict:
    if model.training:
        model.steps += 1
    return {"loss": ((model.weight - 100.0) ** 2).mean() + 0 * batch["x"].sum()}


def _share_growing_by_epoch(model: nn.Module, train: dict, validation: dict) -> float:
    """0.43, 0.46, 0.49, 0.52, ... after epochs 1, 2, 3, 4, ...: samples drift towards the
    training rows as training goes on."""
    assert train["x"].shape == validation["x"].shape  # equally many rows of each
    return 0.40 + 0.03 * float(model.steps) / MIN_EPOCH_STEPS


def _train(limit: float) -> tuple[dict, Counter]:
    model = Counter()
    config = NeuralTabularConfig(
        max_epochs=30,
        patience=2,
        learning_rate=0.5,
        ema_decay=0,
        validation_fraction=0.5,
        min_validation_rows=1,  # 32 validation rows: keep the split (small-table guard off)
    )
    summary = train_with_early_stopping(
        name="test",
        model=model,
        loss_fn=_loss,
        data={"x": torch.zeros(64, 1)},
        config=config,
        seed=0,
        device="cpu",
        batches_per_pass=4,
        stochastic_loss=False,
        privacy=PrivacyCheck(share=_share_growing_by_epoch, limit=limit),
    )
    return summary, model


def test_privacy_check_keeps_the_last_epoch_within_the_limit_and_stops_after_patience():
    # Run: the validation loss improves every epoch; the share passes 0.5 after epoch 3
    summary, model = _train(limit=0.5)

    # Assert: epoch 3 is kept (its weights, not the last ones), epochs 4 and 5 use the patience
    assert summary["best_epoch"] == 3 and summary["epochs_run"] == 5
    assert summary["best_dcr_share"] == pytest.approx(0.49)
    assert float(model.steps) == 3 * MIN_EPOCH_STEPS


def test_privacy_check_that_no_epoch_passes_keeps_the_lowest_share():
    # Run
    summary, model = _train(limit=0.3)

    # Assert
    assert summary["best_epoch"] == 1 and summary["epochs_run"] == 2
    assert summary["best_dcr_share"] == pytest.approx(0.43)
    assert float(model.steps) == MIN_EPOCH_STEPS
