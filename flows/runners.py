"""Task runners for the sampling shards, chosen by a job's `runner:` section.

Threads (default) share one process: generators that touch process-wide random state take turns
(`Generator.thread_safe`), so SDV shards overlap only their Parquet writes. Dask runs each shard in
a worker process (one thread per worker), so shards sample in parallel; every worker loads the
fitted model from the model cache path and writes its part into the staging directory, so on a
remote cluster both must live on storage the workers can reach (a shared mount or an object store).
With no `PREFECT_API_URL` the workers report to this process's temporary Prefect server, which only
a cluster on this machine can reach: give a remote cluster a real Prefect server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from job.config import RunnerConfig


def shard_runner(config: RunnerConfig) -> TaskRunner:
    """A not-yet-started task runner for `config`; use it as a context manager."""
    return _RUNNERS[config.kind](config)


def _thread_runner(config: RunnerConfig) -> TaskRunner:
    # Bounded by default (Prefect's own default is unbounded): each running shard holds its
    # generator and frame in memory, so the pool size caps memory at workers x shard.
    return ThreadPoolTaskRunner(max_workers=config.workers or os.cpu_count() or 1)


def _dask_runner(config: RunnerConfig) -> TaskRunner:
    from prefect_dask import DaskTaskRunner  # imported here: dask costs ~1 s to import

    if config.address is not None:
        return DaskTaskRunner(address=config.address)
    cluster: dict[str, object] = {"processes": True, "threads_per_worker": 1}
    if config.workers is not None:
        cluster["n_workers"] = config.workers
    # No dashboard: it needs bokeh and a free port, and a run's cluster lives only for the run.
    return DaskTaskRunner(cluster_kwargs={**cluster, "dashboard_address": None})


_RUNNERS: dict[str, Callable[[RunnerConfig], TaskRunner]] = {
    "threads": _thread_runner,
    "dask": _dask_runner,
}


@contextmanager
def worker_api(config: RunnerConfig) -> Iterator[None]:
    """Point Dask workers' task runs at this process's temporary Prefect API, if it uses one.

    Without it each worker process would start its own temporary server (10-20 s each) and record
    its shard task runs apart from the flow run.
    """
    if config.kind != "dask" or PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # one per process: the server this flow run talks to
    if not server.running:
        yield
        return
    with temporary_settings({PREFECT_API_URL: server.api_url}):  # travels with each task's context
        yield
