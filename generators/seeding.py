"""Seeds that make runs reproducible without leaking state into the caller's random generators."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from `seed` and `keys` (e.g. a shard index), independent per key."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed python, numpy and torch for the duration of the block, then restore their states."""
    import torch

    py_state = random.getstate()
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
