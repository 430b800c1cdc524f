"""The network of `argn`: a small causal transformer over a row's tokens.

Position k reads the embedding of token k-1 (a begin token at k = 0) plus a learned embedding of
position k; ordered values (numeric bins, within-bin steps) add their level in [-1, 1] times a
learned direction, so that neighbouring bins are near each other from the start, and in training
`token_dropout` of them enter by that level alone (regularisation for small tables). Its head
predicts token k over that position's own vocabulary; causal attention means token k is predicted
from tokens < k only. Sampling runs position by position with a
key/value cache, so drawing a row costs one pass over its tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Cache = list[tuple[torch.Tensor, torch.Tensor]]


class CausalBlock(nn.Module):
    """Pre-norm self-attention + MLP; attends over a key/value cache when one is given."""

    def __init__(self, *, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm_attention = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.project = nn.Linear(width, width)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        batch, length, width = x.shape  # (B, L, D)
        q, k, v = self.qkv(self.norm_attention(x)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        if cache is not None:  # incremental decoding: this call adds L positions to the cache
            if cache:
                k = torch.cat([cache[0][0], k], dim=2)  # (B, H, L_cached + L, D / H)
                v = torch.cat([cache[0][1], v], dim=2)
                cache.clear()
            cache.append((k, v))
        # With a cache and one new position, that position may attend to everything cached.
        causal = q.shape[2] == k.shape[2]
        attended = F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, L, D / H)
        attended = attended.transpose(1, 2).reshape(batch, length, width)
        x = x + F.dropout(self.project(attended), self.dropout, self.training)
        return x + self.mlp(self.norm_mlp(x))


class ARGNTransformer(nn.Module):
    """Autoregressive model of token rows whose position t has `cardinalities[t]` values."""

    def __init__(
        self,
        *,
        cardinalities: list[int],
        levels: list[list[float]],
        width: int,
        depth: int,
        heads: int,
        dropout: float,
        token_dropout: float = 0.0,
    ):
        super().__init__()
        self.token_dropout = token_dropout
        cards = torch.tensor(cardinalities)
        positions, widest = len(cardinalities), int(cards.max())
        # Every position's values get their own embedding rows; the last row is the begin token.
        self.register_buffer("offsets", torch.cumsum(cards, 0) - cards, persistent=False)
        self.register_buffer(
            "valid", torch.arange(widest)[None, :] < cards[:, None], persistent=False
        )  # (T, C): which head outputs are real values of that position
        self.begin = int(cards.sum())
        self.token_embedding = nn.Embedding(self.begin + 1, width)
        # Levels of ordered values (0 elsewhere): small tables have too few rows to learn from
        # scratch that bin 7 lies between bins 6 and 8.
        flat_levels = [level for position in levels for level in position] + [0.0]
        self.register_buffer("token_level", torch.tensor(flat_levels), persistent=False)
        self.level_direction = nn.Parameter(torch.randn(positions, width) * 0.02)
        self.position_embedding = nn.Parameter(torch.randn(positions, width) * 0.02)
        self.input_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            CausalBlock(width=width, heads=heads, dropout=dropout) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width)
        # One linear head per position, stored padded to the widest vocabulary.
        self.head_weight = nn.Parameter(torch.randn(positions, widest, width) * 0.02)
        self.head_bias = nn.Parameter(torch.zeros(positions, widest))
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    @property
    def positions(self) -> int:
        return self.head_bias.shape[0]

    def _inputs(self, previous: torch.Tensor, start: int) -> torch.Tensor:
        """Embeddings `(B, L, D)` of positions start .. start+L-1, given the tokens before each:
        `previous[:, i]` is token start+i-1, or -1 for the begin token."""
        length = previous.shape[1]
        owner = torch.arange(start - 1, start - 1 + length, device=previous.device).clamp(min=0)
        ids = torch.where(previous < 0, self.begin, previous + self.offsets[owner])  # (B, L)
        embedded = self.token_embedding(ids)
        level = self.token_level[ids]  # (B, L)
        if self.training and self.token_dropout:
            # Token dropout: an ordered token (non-zero level) sometimes enters by its level
            # alone, so what follows must depend smoothly on it, not on the token's identity.
            chance = torch.rand(level.shape, device=level.device)
            drop = (level != 0) & (chance < self.token_dropout)
            embedded = embedded.masked_fill(drop[..., None], 0.0)
        x = embedded + self.position_embedding[start : start + length]
        x = x + level[..., None] * self.level_direction[owner]
        return self.input_dropout(x)

    def _logits(self, hidden: torch.Tensor, start: int) -> torch.Tensor:
        """Head outputs `(B, L, C)` of positions start .. start+L-1; padding is -inf."""
        length = hidden.shape[1]
        weight = self.head_weight[start : start + length]  # (L, C, D)
        logits = torch.einsum("bld,lcd->blc", self.norm(hidden), weight)
        logits = logits + self.head_bias[start : start + length]
        return logits.masked_fill(~self.valid[start : start + length], float("-inf"))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits `(B, T, C)` of every position given the tokens before it (teacher forcing)."""
        previous = torch.cat([torch.full_like(tokens[:, :1], -1), tokens[:, :-1]], dim=1)
        x = self._inputs(previous, 0)  # (B, T, D)
        for block in self.blocks:
            x = block(x)
        return self._logits(x, 0)

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per token of `tokens` `(B, T)`."""
        logits = self(tokens).float()  # (B, T, C)
        return F.cross_entropy(logits.flatten(0, 1), tokens.flatten())

    @torch.no_grad()
    def sample(
        self, prefix: torch.Tensor, *, temperature: float, generator: torch.Generator
    ) -> torch.Tensor:
        """Complete rows whose first P tokens are `prefix` `(B, P)`; returns tokens `(B, T)`."""
        batch, fixed = prefix.shape
        if fixed == self.positions:
            return prefix
        tokens = torch.empty(batch, self.positions, dtype=torch.long, device=prefix.device)
        tokens[:, :fixed] = prefix
        caches: list[Cache] = [[] for _ in self.blocks]
        begin = torch.full((batch, 1), -1, dtype=torch.long, device=prefix.device)
        # The first pass reads the begin token and the prefix; each later pass one new token.
        previous, start = torch.cat([begin, prefix], dim=1), 0
        for position in range(fixed, self.positions):
            x = self._inputs(previous, start)
            for block, cache in zip(self.blocks, caches, strict=True):
                x = block(x, cache)
            logits = self._logits(x[:, -1:], position)[:, 0].float()  # (B, C)
            probs = torch.softmax(logits / temperature, dim=-1)
            tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0]
            previous, start = tokens[:, position : position + 1], position + 1
        return tokens
