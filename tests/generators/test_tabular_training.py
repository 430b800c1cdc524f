"""The tabular training loop's batch plan: every row once per pass, no tiny last step, enough
steps per epoch on small tables, seeded by (seed, epoch)."""

from __future__ import annotations

import pytest
import torch

from generators.tabular_training import (
    MAX_EPOCH_STEPS,
    MIN_EPOCH_STEPS,
    epoch_batches,
    epochs_for_passes,
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
