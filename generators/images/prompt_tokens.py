"""The conditioning module of `t2i`'s UNet stage (imported when it trains: it imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class PromptTokens(nn.Module):
    """A text encoder over a fixed table of tokenized prompts: prompt indices `(B,)` -> hidden
    states `(B, max_length, width)`. The last row is the empty prompt (the null condition)."""

    def __init__(self, text_encoder: nn.Module, token_ids: torch.Tensor):
        super().__init__()
        self.text_encoder = text_encoder
        self.register_buffer("token_ids", token_ids, persistent=False)

    @property
    def null_index(self) -> int:
        return len(self.token_ids) - 1

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(self.token_ids[indices])[0]
