"""GPU slots: a Prefect global concurrency limit bounds how many GPU tasks run at once.

Create the limit once on the server, `prefect gcl create gpu --limit N` (N tasks whose models fit
in one GPU's memory). Several GPU hosts each bound themselves: give each worker its own limit name
with `SYNTHPIPE_GPU_LIMIT=gpu-<host>` and create that limit. Where no such limit exists (the
embedded local server, a fresh install), GPU work runs unbounded: on a machine with a GPU Prefect
warns that the limit is missing; on one without (an image job's default `gpu` resource on a
laptop) there is nothing to share, so nothing is said.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

GPU_LIMIT_ENV = "SYNTHPIPE_GPU_LIMIT"
DEFAULT_GPU_LIMIT = "gpu"


def gpu_limit_name() -> str:
    return os.environ.get(GPU_LIMIT_ENV) or DEFAULT_GPU_LIMIT


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def limit_exists(name: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return False
    return True


def gpu_slot(resource: str) -> AbstractContextManager[object]:
    """Hold one slot of the GPU limit while the body runs; CPU work holds nothing, and neither
    does GPU work on a machine without a GPU where no limit was created."""
    if resource != "gpu":
        return nullcontext()
    name = gpu_limit_name()
    if not has_gpu() and not limit_exists(name):
        return nullcontext()
    return concurrency(name, occupy=1)
