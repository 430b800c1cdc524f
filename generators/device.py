"""Choose the torch device once: `cuda` when present, else CPU; a config can override it. Also
the CPU thread count a generator fits and samples with (`cpu_threads`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import Field

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


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's CPU thread count set to `count` for the block (None: left as it is), then
    restored. It is process-wide, so a generator setting it is not `thread_safe`."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def cpu_threads_field() -> Any:
    """The `cpu_threads` config field every torch family shares."""
    return Field(
        None,
        ge=1,
        description="torch CPU threads while fitting and sampling (None: torch's setting); 1 "
        "avoids thread contention when several jobs share a machine.",
    )
