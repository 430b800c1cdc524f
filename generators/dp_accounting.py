"""Differential-privacy budgets: a job's `privacy:` block and the DP-SGD accountant.

DP-SGD (Abadi et al. 2016) clips each row's gradient to `max_grad_norm` and adds Gaussian noise
of `noise_multiplier * max_grad_norm` to every step's sum; with Poisson sampling (each row joins a
step with probability `sample_rate`) opacus' PRV accountant (Gopi et al. 2021, opacus' default)
turns (noise multiplier, sample rate, steps) into the (ε, δ) spent. `BudgetAccountant` says
whether another epoch fits the budget, so training stops before it is spent. opacus is imported
inside functions: it pulls in torch and is only needed when a job asks for privacy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ACCOUNTANT = "prv"  # opacus' PRV accountant: tighter than RDP for the same noise


class PrivacyConfig(BaseModel):
    """A job's `privacy:` block: the (ε, δ) budget of the whole fit and the clipping norm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(gt=0, description="Total ε of everything learned from the real rows.")
    delta: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Total δ; None: default_delta(rows), below 1 / rows as DP requires.",
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Per-row gradient clipping norm.")

    def delta_for(self, rows: int) -> float:
        return self.delta if self.delta is not None else default_delta(rows)


def default_delta(rows: int) -> float:
    """δ for a table of `rows` rows: 1e-5, or 1 / (10 · rows) when that is smaller (a δ near
    1 / rows would allow publishing one row in the clear)."""
    return min(1e-5, 1.0 / (10 * max(rows, 1)))


def noise_multiplier(*, epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The noise multiplier that spends (`epsilon`, `delta`) in exactly `steps` Poisson-sampled
    steps at `sample_rate` (opacus' search, PRV accountant)."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=ACCOUNTANT,
        )
    )


@dataclass
class BudgetAccountant:
    """ε spent by DP-SGD steps so far (opacus' PRV accountant) against a budget of
    (`epsilon`, `delta`); `fits(steps)` says whether `steps` more steps stay within it."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int = 0
    _accountant: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from opacus.accountants import create_accountant

        self._accountant = create_accountant(ACCOUNTANT)

    def record(self, steps: int) -> None:
        """Account for `steps` steps taken."""
        for _ in range(steps):
            self._accountant.step(
                noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate
            )
        self.steps += steps

    def spent(self) -> float:
        """ε spent so far at `delta` (0 before any step)."""
        if not self.steps:
            return 0.0
        return float(self._accountant.get_epsilon(delta=self.delta))

    def fits(self, steps: int) -> bool:
        """Whether taking `steps` more steps keeps the ε spent within `epsilon`."""
        trial = copy.deepcopy(self)
        trial.record(steps)
        return trial.spent() <= self.epsilon

    def summary(self) -> dict[str, Any]:
        """What the lineage records: ε and δ spent, the accountant, noise and sampling rate."""
        return {
            "epsilon_spent": round(self.spent(), 4),
            "epsilon_budget": self.epsilon,
            "delta": self.delta,
            "accountant": ACCOUNTANT,
            "noise_multiplier": round(self.noise_multiplier, 4),
            "sample_rate": self.sample_rate,
            "steps": self.steps,
        }
