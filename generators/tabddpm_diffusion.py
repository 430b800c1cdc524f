"""The diffusion of `tabddpm` (Kotelnikov et al. 2023): Gaussian diffusion on the numeric positions
(mapped to standard normal scores), multinomial diffusion (Hoogeboom et al. 2021) on the
categorical codes, one MLP denoiser with a timestep embedding for both.

Both processes share one cosine noise schedule over `steps` steps. The denoiser predicts the
Gaussian noise (eps) and, per categorical sub-column, logits of the clean class; the loss is the
mean squared error on eps plus the categorical part of the variational bound: the KL divergence
between the true and the predicted posterior of the codes, summed over timesteps (at t = 0 the
true posterior is the clean class itself, so that term is its negative log-likelihood).

Sampling walks back over every timestep (ancestral DDPM) or jumps over an evenly spaced subset
of them (DDIM for the numeric scores, the multinomial posterior across each jump for the codes),
which takes a fraction of the denoiser passes.

Categorical sub-columns of different sizes are held flat: `(B, S)` slots, `S` the sum of their
class counts, sub-column k in a run of consecutive slots. (A padded `(B, K, C)` layout, `C` the
largest class count, made one 300-category column cost as much as 26 x 300 slots per row: a
16,000-row survey took minutes to sample.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-30  # floor inside logarithms of probabilities
SCORE_LIMIT = 5.0  # numeric scores (normal quantiles of positions) lie within +-5
TIME_WIDTH = 128


def cosine_alpha_bars(steps: int, offset: float = 0.008) -> torch.Tensor:
    """Cumulative signal fractions ᾱ_t `(steps,)` of the cosine schedule (Nichol & Dhariwal)."""
    grid = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    f = torch.cos((grid + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0)


def timestep_embedding(t: torch.Tensor, width: int = TIME_WIDTH) -> torch.Tensor:
    """Sinusoidal embedding `(B, width)` of integer timesteps `(B,)`."""
    half = width // 2
    frequencies = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class Denoiser(nn.Module):
    """MLP over [numeric scores, one-hot codes] + timestep (+ condition) embedding.

    Outputs `(B, N + sum(cardinalities))`: eps for the N numeric scores, then per categorical
    sub-column the logits of its clean class.
    """

    def __init__(
        self,
        *,
        continuous: int,
        cardinalities: list[int],
        condition_cardinalities: list[int],
        hidden: tuple[int, ...],
        dropout: float,
    ):
        super().__init__()
        width = continuous + sum(cardinalities)
        self.project = nn.Linear(width, TIME_WIDTH)
        self.time = nn.Sequential(
            nn.Linear(TIME_WIDTH, TIME_WIDTH), nn.SiLU(), nn.Linear(TIME_WIDTH, TIME_WIDTH)
        )
        cond = torch.tensor(condition_cardinalities, dtype=torch.long)
        self.register_buffer("condition_offsets", torch.cumsum(cond, 0) - cond, persistent=False)
        # Conditioning tokens (one table, offset per condition sub-column) add to the time signal.
        self.condition = nn.Embedding(max(int(cond.sum()), 1), TIME_WIDTH)
        layers: list[nn.Module] = []
        previous = TIME_WIDTH
        for size in hidden:
            layers += [nn.Linear(previous, size), nn.ReLU(), nn.Dropout(dropout)]
            previous = size
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(previous, width)

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = self.project(x) + self.time(timestep_embedding(t))  # (B, TIME_WIDTH)
        if condition.shape[1]:
            h = h + self.condition(condition + self.condition_offsets).sum(dim=1)
        return self.out(self.mlp(h))


class MixedDiffusion(nn.Module):
    """Gaussian + multinomial diffusion around a `Denoiser` (the module's only parameters)."""

    def __init__(
        self,
        *,
        continuous: int,
        cardinalities: list[int],
        condition_cardinalities: list[int],
        hidden: tuple[int, ...],
        dropout: float,
        steps: int,
    ):
        super().__init__()
        self.continuous = continuous
        self.steps = steps
        self.denoiser = Denoiser(
            continuous=continuous,
            cardinalities=cardinalities,
            condition_cardinalities=condition_cardinalities,
            hidden=hidden,
            dropout=dropout,
        )
        cards = torch.tensor(cardinalities, dtype=torch.long)
        alpha_bars = cosine_alpha_bars(steps)
        previous = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]])
        schedule = {
            "alpha_bars": alpha_bars,
            "alpha_bars_previous": previous,  # ᾱ_{t-1}, with ᾱ_{-1} = 1
            "alphas": alpha_bars / previous,
        }
        for name, values in schedule.items():
            self.register_buffer(name, values.float(), persistent=False)
        layout = {
            "offsets": torch.cumsum(cards, 0) - cards,  # (K,) each sub-column's first slot
            "last_slots": torch.cumsum(cards, 0) - 1,  # (K,) and its last
            "column_of": torch.repeat_interleave(torch.arange(len(cards)), cards),  # (S,)
            "uniform": torch.repeat_interleave(1 / cards.double(), cards).float(),  # (S,)
        }
        for name, values in layout.items():
            self.register_buffer(name, values, persistent=False)

    # ---- layout: (B, S) slots, sub-column k in slots offsets[k] .. offsets[k] + card_k - 1 ----
    def _one_hot(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `(B, K)` -> one-hot slots `(B, S)`."""
        out = torch.zeros((codes.shape[0], len(self.column_of)), device=codes.device)
        return out.scatter_(1, codes + self.offsets, 1.0)

    def _column_sums(self, slots: torch.Tensor) -> torch.Tensor:
        """Per-sub-column sums `(B, K)` of slot values `(B, S)`."""
        out = slots.new_zeros((slots.shape[0], len(self.offsets)))
        return out.index_add_(1, self.column_of, slots)

    def _normalised(self, slots: torch.Tensor) -> torch.Tensor:
        """Slot values `(B, S)` scaled to sum to one within each sub-column."""
        return slots / self._column_sums(slots)[:, self.column_of].clamp(min=EPS)

    # ---- multinomial posteriors -----------------------------------------------------------------
    def _q_marginal(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) `(B, S)` for clean probabilities x0 `(B, S)`."""
        keep = self.alpha_bars[t][:, None]
        return keep * x0 + (1 - keep) * self.uniform

    def _posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_{t-1} | x_t, x_0) `(B, S)` for one-hot x_t and clean probabilities x0."""
        return self._posterior_between(
            x0, xt, self.alphas[t][:, None], self.alpha_bars_previous[t][:, None]
        )

    def _posterior_between(
        self, x0: torch.Tensor, xt: torch.Tensor, keep: torch.Tensor, previous: torch.Tensor
    ) -> torch.Tensor:
        """q(x_s | x_t, x_0) `(B, S)` for s < t, where `keep` = ᾱ_t / ᾱ_s is the chance that
        the forward process keeps a class from s to t and `previous` = ᾱ_s (for s = t - 1:
        the one-step posterior)."""
        step_back = keep * xt + (1 - keep) * self.uniform
        prior = previous * x0 + (1 - previous) * self.uniform
        return self._normalised(step_back * prior)

    def _predicted_x0(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax within each sub-column of logits `(B, S)`."""
        index = self.column_of.expand(logits.shape[0], -1)
        top = logits.new_full((logits.shape[0], len(self.offsets)), float("-inf"))
        top = top.scatter_reduce(1, index, logits, reduce="amax")
        return self._normalised(torch.exp(logits - top[:, self.column_of]))

    # ---- training ------------------------------------------------------------------------------
    def loss(
        self,
        scores: torch.Tensor,
        codes: torch.Tensor,
        condition: torch.Tensor,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """Losses of clean numeric scores `(B, N)` and codes `(B, K)` at random timesteps."""
        batch, device = scores.shape[0], scores.device
        t = torch.randint(0, self.steps, (batch,), device=device, generator=generator)
        alpha_bar = self.alpha_bars[t][:, None]
        noise = torch.randn(scores.shape, device=device, generator=generator)
        noisy = alpha_bar.sqrt() * scores + (1 - alpha_bar).sqrt() * noise  # (B, N)
        x0 = self._one_hot(codes)  # (B, S)
        xt = self._one_hot(self._draw(self._q_marginal(x0, t), generator))
        out = self.denoiser(torch.cat([noisy, xt], dim=1), t, condition).float()
        losses: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=device)
        if self.continuous:
            losses["gaussian"] = F.mse_loss(out[:, : self.continuous], noise)
            total = total + losses["gaussian"]
        if codes.shape[1]:
            true = self._posterior(x0, xt, t)
            predicted = self._posterior(self._predicted_x0(out[:, self.continuous :]), xt, t)
            kl = torch.xlogy(true, true) - true * torch.log(predicted.clamp(min=EPS))
            # The categorical part of the variational bound sums KL over all timesteps: T times
            # the mean over sampled t. Averaged over t instead, it is ~100x smaller than the
            # Gaussian term and the denoiser barely learns how categories go together. (The
            # mean is over rows and sub-columns.)
            losses["multinomial"] = self.steps * kl.sum(dim=1).mean() / codes.shape[1]
            total = total + losses["multinomial"]
        losses["loss"] = total
        return losses

    # ---- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        condition: torch.Tensor,
        generator: torch.Generator,
        timesteps: list[int],
        eta: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Numeric scores `(B, N)` and codes `(B, K)`, one row per condition row `(B, Q)`,
        denoised along `timesteps` (decreasing, from `steps - 1`; see `sampling_timesteps`).

        Each jump t -> s draws the codes from the multinomial posterior q(x_s | x_t, x̂_0) and
        moves the scores by the DDIM update (Song et al. 2021) with noise scale `eta`: 1 over
        every timestep is ancestral DDPM sampling, 0 over a few is deterministic DDIM."""
        batch, device = condition.shape[0], condition.device
        scores = torch.randn((batch, self.continuous), device=device, generator=generator)
        codes = self._draw(self.uniform.expand(batch, -1), generator)  # (B, K)
        for step, target in zip(timesteps, [*timesteps[1:], -1], strict=True):
            t = torch.full((batch,), step, device=device, dtype=torch.long)
            # ᾱ at the jump's target; the clean data (target -1) has ᾱ = 1.
            previous = self.alpha_bars[target] if target >= 0 else self.alpha_bars.new_ones(())
            xt = self._one_hot(codes)
            out = self.denoiser(torch.cat([scores, xt], dim=1), t, condition).float()
            eps = out[:, : self.continuous]
            scores = self._gaussian_jump(scores, eps, step, previous, eta, generator)
            if codes.shape[1]:
                x0 = self._predicted_x0(out[:, self.continuous :])
                keep = self.alpha_bars[step] / previous
                codes = self._draw(self._posterior_between(x0, xt, keep, previous), generator)
        return scores, codes

    def _gaussian_jump(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        step: int,
        previous: torch.Tensor,
        eta: float,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """x_s from x_t `(B, N)` (t = `step`, ᾱ_s = `previous`) and the predicted noise, through
        the predicted x_0 clipped to the scores' range. Without the clip, the late steps
        (1 / sqrt(alpha_t) ~ 30) amplify eps errors until samples diverge; eps is re-derived
        from the clipped x_0 so that the jump stays on its line."""
        alpha_bar = self.alpha_bars[step]
        x0 = ((x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()).clamp(
            -SCORE_LIMIT, SCORE_LIMIT
        )
        eps = (x - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()
        # DDIM's sigma: eta = 1 gives the variance of the posterior q(x_s | x_t, x_0); it is 0
        # on the last jump (ᾱ_s = 1), which returns x_0.
        variance = eta**2 * (1 - previous) / (1 - alpha_bar) * (1 - alpha_bar / previous)
        mean = previous.sqrt() * x0 + (1 - previous - variance).clamp(min=0).sqrt() * eps
        if eta == 0:
            return mean
        return mean + variance.sqrt() * torch.randn(x.shape, device=x.device, generator=generator)

    def _draw(self, probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One class `(B, K)` per sub-column of probabilities `(B, S)`: the slot where a uniform
        draw falls on the row's running sum (inverse CDF, all sub-columns in one search)."""
        batch, columns = probs.shape[0], len(self.offsets)
        if columns == 0:
            return torch.zeros((batch, 0), dtype=torch.long, device=probs.device)
        probs = probs.double()  # the running sum spans every sub-column
        running = probs.cumsum(dim=1)  # (B, S)
        before = running[:, self.offsets] - probs[:, self.offsets]  # (B, K)
        u = torch.rand((batch, columns), device=probs.device, generator=generator)
        target = before + u.double() * self._column_sums(probs)
        slot = torch.searchsorted(running, target, right=True)
        # Rounding can land a hair outside the sub-column: clamp to its slots.
        slot = torch.minimum(torch.maximum(slot, self.offsets), self.last_slots)
        return slot - self.offsets


def sampling_timesteps(steps: int, count: int) -> list[int]:
    """`count` timesteps (at most `steps`), evenly spaced from `steps - 1` down to 0."""
    grid = torch.linspace(steps - 1, 0, min(count, steps), dtype=torch.float64)
    return sorted({int(t) for t in grid.round()}, reverse=True)
