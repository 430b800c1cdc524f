"""`benchmarks/latent_vs_pixel.py` runs end to end at its tiny size: both generators at both
budgets, with the holdout-based quality columns filled."""

from __future__ import annotations

import pytest

from benchmarks import latent_vs_pixel


@pytest.mark.slow  # ~17 CPU s: four fits, four samplings, the validation CNN
def test_tiny_run_prints_both_models_at_both_budgets(capsys):
    # Run
    latent_vs_pixel.main(["--size", "tiny"])

    # Assert: one row per model and budget, steps within budget and the quality columns filled
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| digits")]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    assert [(r[1], r[2]) for r in rows] == [
        ("ddpm", "B/3"),
        ("ddpm", "B"),
        ("ldm", "B/3"),
        ("ldm", "B"),
    ]
    for cells in rows:
        assert float(cells[5]) > 0 and float(cells[6]) > 0
        assert float(cells[7]) > 0 and float(cells[8]) >= 0
    assert rows[1][3].isdigit() and int(rows[1][3]) >= int(rows[0][3])  # B trains more than B/3
    assert " + " in rows[3][3]  # ldm: autoencoder steps + UNet steps
