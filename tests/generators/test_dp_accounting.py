"""The DP-SGD budget: opacus' PRV accountant, the noise search and the budget stop."""

from __future__ import annotations

import pytest

from generators.dp_accounting import (
    BudgetAccountant,
    PrivacyConfig,
    default_delta,
    noise_multiplier,
)


def test_default_delta_is_below_one_over_rows():
    # Assert
    assert default_delta(5_000) == 1e-5
    assert default_delta(569) == 1e-5  # 1 / 5690 is larger
    assert PrivacyConfig(epsilon=3).delta_for(200_000) == pytest.approx(5e-7)
    assert PrivacyConfig(epsilon=3, delta=1e-6).delta_for(10) == 1e-6


def test_budget_accountant_matches_opacus_prv_figures():
    # Setup: opacus' own PRV accountant stepped directly is the reference figure.
    from opacus.accountants import PRVAccountant

    reference = PRVAccountant()
    for _ in range(50):
        reference.step(noise_multiplier=1.1, sample_rate=0.02)
    accountant = BudgetAccountant(epsilon=10, delta=1e-5, noise_multiplier=1.1, sample_rate=0.02)

    # Run
    accountant.record(50)

    # Assert
    assert accountant.spent() == pytest.approx(reference.get_epsilon(delta=1e-5), rel=1e-6)
    assert 0.3 < accountant.spent() < 1.5  # sigma 1.1, q 0.02, 50 steps: well under 1.5
    assert accountant.summary()["accountant"] == "prv"


def test_noise_multiplier_spends_the_budget_and_the_stop_refuses_more():
    # Setup
    sigma = noise_multiplier(epsilon=2.0, delta=1e-5, sample_rate=0.05, steps=40)
    accountant = BudgetAccountant(epsilon=2.0, delta=1e-5, noise_multiplier=sigma, sample_rate=0.05)

    # Run
    fits_planned = accountant.fits(40)
    accountant.record(40)

    # Assert: the planned steps spend close to (and not over) epsilon; more do not fit.
    assert fits_planned
    assert 1.9 <= accountant.spent() <= 2.0
    assert not accountant.fits(20)
