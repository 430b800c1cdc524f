"""The diffusion of `tabddpm` (Kotelnikov et al. 2023): Gaussian diffusion on the numeric positions
(mapped to standard normal scores), multinomial diffusion (Hoogeboom et al. 2021) on the
categorical codes, one MLP denoiser with a timestep embedding for both.

Both processes share one cosine noise schedule over `steps` steps. The denoiser predicts the
Gaussian noise (eps) and, per categorical sub-column, logits of the clean class; the loss is the
mean squared error on eps plus the categorical part of the variational bound: the KL divergence
between the true and the predicted posterior of the codes, summed over timesteps (at t = 0 the
true posterior is the clean class itself, so that term is its negative log-likelihood).

Categorical sub-columns of different sizes are held padded: `(B, K, C)` probabilities, `K`
sub-columns, `C` the largest class count, padding entries zero.
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
        widest = int(cards.max()) if len(cardinalities) else 1
        alpha_bars = cosine_alpha_bars(steps)
        previous = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]])
        schedule = {
            "alpha_bars": alpha_bars,
            "alpha_bars_previous": previous,  # ᾱ_{t-1}, with ᾱ_{-1} = 1
            "alphas": alpha_bars / previous,
        }
        for name, values in schedule.items():
            self.register_buffer(name, values.float(), persistent=False)
        self.register_buffer(
            "valid", torch.arange(widest)[None, :] < cards[:, None], persistent=False
        )  # (K, C)
        self.register_buffer("uniform", self.valid / cards[:, None].clamp(min=1), persistent=False)

    # ---- layout --------------------------------------------------------------------------------
    def _flat(self, padded: torch.Tensor) -> torch.Tensor:
        """`(B, K, C)` -> `(B, sum cardinalities)` without the padding."""
        return padded[:, self.valid]

    def _padded(self, flat: torch.Tensor, fill: float) -> torch.Tensor:
        """`(B, sum cardinalities)` -> `(B, K, C)` with `fill` in the padding."""
        out = flat.new_full((flat.shape[0], *self.valid.shape), fill)
        out[:, self.valid] = flat
        return out

    def _one_hot(self, codes: torch.Tensor) -> torch.Tensor:
        return F.one_hot(codes, self.valid.shape[1]).float()  # (B, K, C)

    # ---- multinomial posteriors -----------------------------------------------------------------
    def _q_marginal(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) `(B, K, C)` for clean probabilities x0 `(B, K, C)`."""
        keep = self.alpha_bars[t][:, None, None]
        return keep * x0 + (1 - keep) * self.uniform

    def _posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_{t-1} | x_t, x_0) `(B, K, C)` for one-hot x_t and clean probabilities x0."""
        alpha = self.alphas[t][:, None, None]
        previous = self.alpha_bars_previous[t][:, None, None]
        step_back = alpha * xt + (1 - alpha) * self.uniform
        prior = previous * x0 + (1 - previous) * self.uniform
        joint = step_back * prior
        return joint / joint.sum(dim=2, keepdim=True).clamp(min=EPS)

    def _predicted_x0(self, logits: torch.Tensor) -> torch.Tensor:
        padded = self._padded(logits, float("-inf"))
        return torch.softmax(padded, dim=2)  # (B, K, C); padding gets probability 0

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
        x0 = self._one_hot(codes)  # (B, K, C)
        xt = self._one_hot(self._draw(self._q_marginal(x0, t), generator))
        out = self.denoiser(torch.cat([noisy, self._flat(xt)], dim=1), t, condition).float()
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
            # Gaussian term and the denoiser barely learns how categories go together.
            losses["multinomial"] = self.steps * kl.sum(dim=2).mean()
            total = total + losses["multinomial"]
        losses["loss"] = total
        return losses

    # ---- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, condition: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling of numeric scores `(B, N)` and codes `(B, K)`, one row per
        condition row `(B, Q)`."""
        batch, device = condition.shape[0], condition.device
        scores = torch.randn((batch, self.continuous), device=device, generator=generator)
        codes = self._draw(self.uniform.expand(batch, -1, -1), generator)  # (B, K)
        for step in reversed(range(self.steps)):
            t = torch.full((batch,), step, device=device, dtype=torch.long)
            xt = self._one_hot(codes)
            out = self.denoiser(torch.cat([scores, self._flat(xt)], dim=1), t, condition).float()
            scores = self._gaussian_step(scores, out[:, : self.continuous], step, generator)
            if codes.shape[1]:
                x0 = self._predicted_x0(out[:, self.continuous :])
                codes = self._draw(self._posterior(x0, xt, t), generator)
        return scores, codes

    def _gaussian_step(
        self, x: torch.Tensor, eps: torch.Tensor, step: int, generator: torch.Generator
    ) -> torch.Tensor:
        """x_{t-1} from x_t `(B, N)` and predicted noise: the posterior q(x_{t-1} | x_t, x_0) at
        the predicted x_0, clipped to the scores' range. Without the clip, the late steps
        (1 / sqrt(alpha_t) ~ 30) amplify eps errors until samples diverge."""
        alpha, alpha_bar = self.alphas[step], self.alpha_bars[step]
        previous = self.alpha_bars_previous[step]
        x0 = ((x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()).clamp(
            -SCORE_LIMIT, SCORE_LIMIT
        )
        mean = (previous.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * (1 - previous) * x) / (
            1 - alpha_bar
        )
        if step == 0:
            return mean
        variance = (1 - alpha) * (1 - previous) / (1 - alpha_bar)
        return mean + variance.sqrt() * torch.randn(x.shape, device=x.device, generator=generator)

    def _draw(self, probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One class `(B, K)` per categorical distribution `(B, K, C)`."""
        batch, columns, widest = probs.shape
        if columns == 0:
            return torch.zeros((batch, 0), dtype=torch.long, device=probs.device)
        flat = probs.reshape(-1, widest)
        return torch.multinomial(flat, 1, generator=generator).view(batch, columns)
