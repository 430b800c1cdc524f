"""Sampling shards on a thread pool vs a Dask local cluster: shards/s, rows/s, peak RSS.

    python benchmarks/shards.py [--shard-rows 200000] [--workers 2] [--big-rows 10000000]

Fits gaussian_copula on `fair` once, then times the pipeline's shard step
(`pipeline.steps.sample_shard`: sample + write one Parquet part per shard), submitted once per
shard to each pool, for 1, 2 and 4 shards, and one `--big-rows` run on each pool with 1M-row
shards. These are the pools the flow's task runners run shards on, without Prefect's task
bookkeeping. Peak RSS is polled (every 0.2 s, psutil) for this process (threads) and for each Dask
worker process. The Dask cluster is started once and warmed with one small shard (worker imports
of SDV take seconds), so only sampling is timed; its start-up time is printed apart. Nothing is
published: each staged version is aborted.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

import psutil
import pyarrow as pa

from datastore import DatasetStore
from datastore.model_cache import ModelCache
from generators import create_generator
from job.config import JobConfig, parse_job
from pipeline.steps import FittedModel, sample_shard, shard_plan
from sources.tables import load_builtin

MODEL_KEY = "0123456789abcdef"  # any valid cache key: one model serves every run
BIG_SHARD_ROWS = 1_000_000


@contextmanager
def peak_rss(pids: list[int]) -> Iterator[dict[int, int]]:
    """Poll the resident set size of `pids` while the block runs; yields pid -> peak bytes."""
    peaks = dict.fromkeys(pids, 0)
    processes = [psutil.Process(pid) for pid in pids]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for process in processes:
                peaks[process.pid] = max(peaks[process.pid], process.memory_info().rss)
            done.wait(0.2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield peaks
    finally:
        done.set()
        poller.join()


def job_for(root: str, rows: int, shard_rows: int, runner: dict) -> JobConfig:
    return parse_job(
        {
            "dataset": "fair-bench",
            "source": {"builtin": "fair"},
            "generator": {"name": "gaussian_copula"},
            "rows": rows,
            "shard_rows": shard_rows,
            "root": root,
            "runner": runner,
        }
    )


# `submit(fn, *args)` of a pool, returning a future: ThreadPoolExecutor's or a Dask client's.
Submit = Callable[..., Any]


def timed_shards(
    job: JobConfig, model: FittedModel, schema: pa.Schema, submit: Submit, pids: list[int]
) -> dict:
    """Seconds and peak RSS (pid -> bytes) of the shard stage of one job."""
    staged = DatasetStore(job.root).begin(job.dataset)
    try:
        with peak_rss(pids) as peaks:
            started = time.perf_counter()
            shards = shard_plan(job.rows, job.shard_rows)
            futures = [submit(sample_shard, job, model, staged, s, schema) for s in shards]
            for future in futures:
                future.result()
            seconds = time.perf_counter() - started
    finally:
        staged.abort()
    return {"seconds": seconds, "peaks": dict(peaks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard-rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2, help="threads / Dask worker processes")
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="0 skips the big run")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    root = tempfile.mkdtemp(prefix="synthpipe-bench-")
    real = load_builtin("fair")
    path = ModelCache(root).put(MODEL_KEY, create_generator("gaussian_copula").fit(real).save)
    model = FittedModel(key=MODEL_KEY, path=str(path), reused=True, fit_seconds=0.0)
    schema = pa.Schema.from_pandas(real, preserve_index=False)

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    threads = ThreadPoolExecutor(max_workers=args.workers)
    with cluster, Client(cluster) as client, threads:
        worker_pids = sorted(client.run(os.getpid).values())
        dask = {"kind": "dask", "address": cluster.scheduler_address}
        on_dask = partial(client.submit, pure=False)  # every call runs: shards are side effects
        timed_shards(job_for(root, 2, 1, dask), model, schema, on_dask, worker_pids)  # warm-up
        cluster_s = time.perf_counter() - started
        runners = {
            "threads": (
                {"kind": "threads", "workers": args.workers},
                threads.submit,
                [os.getpid()],
            ),
            "dask": (dask, on_dask, worker_pids),
        }
        results = []
        sizes = [(n * args.shard_rows, args.shard_rows) for n in (1, 2, 4)]
        if args.big_rows:
            sizes.append((args.big_rows, BIG_SHARD_ROWS))
        for rows, shard_rows in sizes:
            for name, (runner, submit, pids) in runners.items():
                job = job_for(root, rows, shard_rows, runner)
                run = timed_shards(job, model, schema, submit, pids)
                shards = len(shard_plan(rows, shard_rows))
                results.append((name, shards, rows, run["seconds"], run["peaks"]))

    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.workers} workers (threads, or Dask processes x 1 thread); Dask cluster start + "
        f"warm-up {cluster_s:.1f} s (not in the timings)"
    )
    print("| runner | shards | rows | seconds | shards/s | rows/s | peak RSS per process (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, shards, rows, seconds, peaks in results:
        rss = ", ".join(f"{peak / 2**20:.0f}" for peak in peaks.values())
        print(
            f"| {name} | {shards} | {rows:,} | {seconds:.1f} | {shards / seconds:.2f} | "
            f"{rows / seconds:,.0f} | {rss} |"
        )


if __name__ == "__main__":
    main()
