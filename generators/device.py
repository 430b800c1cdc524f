"""Choose the torch device once: `cuda` when present, else CPU; a config can override it."""

from __future__ import annotations

from typing import Literal

from core.errors import ConfigError

DeviceName = Literal["auto", "cpu", "cuda"]


def resolve_device(requested: str = "auto") -> str:
    """Return `"cuda"` or `"cpu"` for a requested device name (`auto`, `cpu`, `cuda`, `cuda:N`)."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={requested!r} was requested but CUDA is not available on this machine; "
                "use device='auto' or device='cpu'."
            )
        return requested
    raise ConfigError(f"device={requested!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'.")
