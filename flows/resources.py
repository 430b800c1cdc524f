"""GPU slots: a Prefect global concurrency limit bounds how many GPU tasks run at once.

Create the limit once on the server, `prefect gcl create gpu --limit N` (N tasks whose models fit
in one GPU's memory). Several GPU hosts each bound themselves: give each worker its own limit name
with `SYNTHPIPE_GPU_LIMIT=gpu-<host>` and create that limit. Where no such limit exists (the
embedded local server, a fresh install) Prefect logs a warning and the task runs unbounded.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

from prefect.concurrency.sync import concurrency

GPU_LIMIT_ENV = "SYNTHPIPE_GPU_LIMIT"
DEFAULT_GPU_LIMIT = "gpu"


def gpu_limit_name() -> str:
    return os.environ.get(GPU_LIMIT_ENV) or DEFAULT_GPU_LIMIT


def gpu_slot(resource: str) -> AbstractContextManager[object]:
    """Hold one slot of the GPU limit while the body runs; CPU work holds nothing."""
    if resource != "gpu":
        return nullcontext()
    return concurrency(gpu_limit_name(), occupy=1)
