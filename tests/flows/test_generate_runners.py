"""Shards on different task runners: the same seed gives the same rows on threads and on Dask."""

from __future__ import annotations

import os

import pytest

from core.errors import ConfigError
from datastore import open_dataset
from flows.generate import generate_dataset
from flows.runners import shard_runner
from job.config import RunnerConfig, parse_job


def _job(root, runner):
    return parse_job(
        {
            "dataset": "wine-runners",
            "source": {"builtin": "wine"},
            "generator": {"name": "gaussian_copula"},
            "rows": 300,
            "shard_rows": 100,
            "seed": 5,
            "root": str(root),
            "runner": runner,
        }
    )


@pytest.fixture(scope="module")
def dask_cluster():
    """Two single-threaded worker processes, like a small real cluster (≈ 3 s to start)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_generate_dataset_dask_runner_gives_the_thread_runner_rows(tmp_path, dask_cluster):
    # Run: the Dask run reuses the cached model, which its worker processes load per shard.
    generate_dataset(_job(tmp_path, {"kind": "threads", "workers": 3}))
    generate_dataset(_job(tmp_path, {"kind": "dask", "address": dask_cluster.scheduler_address}))

    # Assert
    on_threads = open_dataset("wine-runners@1", root=tmp_path)
    on_dask = open_dataset("wine-runners@2", root=tmp_path)
    assert [p.sha256 for p in on_dask.manifest.parts] == [
        p.sha256 for p in on_threads.manifest.parts
    ]
    frame = on_dask.to_pandas()
    assert len(frame) == 300 and frame.duplicated().sum() < 300 // 2  # shards differ
    assert on_dask.read_json("lineage.json")["job"]["runner"]["kind"] == "dask"


def test_shard_runner_matches_the_config():
    # Run
    threads = shard_runner(RunnerConfig(workers=3))
    default = shard_runner(RunnerConfig())
    dask = shard_runner(RunnerConfig(kind="dask", workers=2))
    remote = shard_runner(RunnerConfig(kind="dask", address="tcp://scheduler:8786"))

    # Assert
    assert type(threads).__name__ == "ThreadPoolTaskRunner" and threads._max_workers == 3
    assert default._max_workers == os.cpu_count()  # bounded: memory is workers x shard
    assert type(dask).__name__ == "DaskTaskRunner"
    assert dask.cluster_kwargs["n_workers"] == 2 and dask.cluster_kwargs["processes"]
    assert remote.address == "tcp://scheduler:8786" and not remote.cluster_kwargs


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ({"kind": "ray"}, "runner.kind: Input should be 'threads' or 'dask'"),
        ({"address": "tcp://x:8786"}, "address is for kind 'dask' only"),
        ({"kind": "dask", "address": "tcp://x:8786", "workers": 2}, "not both"),
        ({"workers": 0}, "runner.workers: Input should be greater than or equal to 1"),
        ({"nodes": 2}, "unknown key 'nodes'; allowed keys: kind, workers, address"),
    ],
)
def test_parse_job_rejects_bad_runner(tmp_path, runner, message):
    # Run / Assert
    with pytest.raises(ConfigError, match=message):
        _job(tmp_path, runner)


@pytest.mark.usefixtures("prefect_harness")
def test_generate_dataset_on_an_object_store_publishes_manifest_last(tmp_path, monkeypatch):
    # Setup: a memory:// store; fitted models go to a local cache.
    import fsspec

    root = f"memory://flow-{tmp_path.name}"
    monkeypatch.setenv("SYNTHPIPE_MODEL_CACHE", str(tmp_path / "models"))

    # Run
    ref = generate_dataset(_job(root, {"kind": "threads"}))

    # Assert
    version = open_dataset(ref, root=root)
    assert ref == "wine-runners@1" and len(version.to_pandas()) == 300
    assert [p.rows for p in version.manifest.parts] == [100, 100, 100]
    assert version.manifest.file("model/generator.json") is not None
    assert any((tmp_path / "models" / ".models").iterdir())
    version.verify()
    fsspec.filesystem("memory").rm(root, recursive=True)


def test_parse_job_image_dataset_on_an_object_store_is_refused():
    # Run / Assert
    with pytest.raises(ConfigError, match="image datasets need a local root"):
        parse_job(
            {
                "dataset": "digits-remote",
                "source": {"builtin": "digits"},
                "generator": {"name": "vae"},
                "rows": 10,
                "root": "s3://bucket/synth",
            }
        )
