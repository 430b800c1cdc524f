"""The store on an fsspec object store (memory://): manifest-last commits, nothing half-visible."""

from __future__ import annotations

import json
import uuid

import fsspec
import pandas as pd
import pytest

from core.errors import DatasetNotFoundError
from datastore import DatasetStore, Manifest, open_dataset


@pytest.fixture
def root():
    """A fresh memory:// prefix (the memory filesystem is shared by the whole process)."""
    url = f"memory://synthpipe-{uuid.uuid4().hex}"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def _frame(start: int, rows: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + rows), "label": [f"r{start}"] * rows})


def _commit(store: DatasetStore, parts: int = 2, passed: bool = True):
    staged = store.begin("adult")
    for index in range(parts):
        staged.write_part(index, _frame(index * 10))
    return staged.commit(
        rows_expected=4 * parts,
        lineage={"seed": 1},
        report_json=json.dumps({"passed": passed}),
        report_markdown="# ok\n",
        passed=passed,
        failed_checks=[] if passed else ["ks_id"],
    )


def test_object_store_round_trip_readable_with_pandas_through_fsspec(root):
    # Setup
    store = DatasetStore(root)

    # Run
    version = _commit(store)
    plain = pd.read_parquet(f"{root}/adult/v1/data")  # no Synthpipe needed to read it back

    # Assert
    assert store.is_remote and str(version.path) == f"{root}/adult/v1"
    expected = pd.concat([_frame(0), _frame(10)], ignore_index=True)
    pd.testing.assert_frame_equal(open_dataset("adult@latest", root=root).to_pandas(), expected)
    pd.testing.assert_frame_equal(plain.sort_values("id", ignore_index=True), expected)
    assert store.list_datasets() == ["adult"]
    assert [(i.version, i.status, i.rows, i.is_latest) for i in store.list_versions("adult")] == [
        (1, "published", 8, True)
    ]
    assert version.read_json("lineage.json") == {"seed": 1}
    version.verify()
    assert fsspec.filesystem("memory").find(f"{root}/.staging") == []  # staging removed


def test_object_store_latest_skips_quarantined_and_versions_count_up(root):
    # Setup
    store = DatasetStore(root)

    # Run
    refs = [_commit(store).ref, _commit(store, passed=False).ref, _commit(store, parts=1).ref]

    # Assert
    assert refs == ["adult@1", "adult@2", "adult@3"]
    assert store.latest_version("adult") == 3
    assert store.open("adult@2", allow_quarantined=True).status == "quarantined"


def test_object_store_crash_before_manifest_leaves_no_version(root, monkeypatch):
    # Setup: v1 is published; the next commit dies after copying its files, before the manifest.
    store = DatasetStore(root)
    _commit(store)

    def crash(self):
        raise KeyboardInterrupt("killed before the manifest was written (simulated)")

    monkeypatch.setattr(Manifest, "to_json", crash)

    # Run
    with pytest.raises(KeyboardInterrupt):
        _commit(store, parts=3)
    monkeypatch.undo()

    # Assert: v2's files exist but without a manifest nobody sees a version 2.
    fs = fsspec.filesystem("memory")
    assert fs.find(f"{root}/adult/v2/data") and not fs.exists(f"{root}/adult/v2/manifest.json")
    assert [info.version for info in store.list_versions("adult")] == [1]
    assert store.latest_version("adult") == 1
    assert len(store.open("adult@latest").to_pandas()) == 8
    with pytest.raises(DatasetNotFoundError, match="Version 2 of dataset 'adult' not found"):
        store.open("adult@2")
    assert _commit(store).ref == "adult@3"  # the claimed number is never reused


def test_object_store_clean_staging_removes_abandoned_versions(root):
    # Setup: a writer that died before commit leaves its staged parts behind.
    store = DatasetStore(root)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0))

    # Run
    kept = store.clean_staging(older_than_s=3600)
    removed = store.clean_staging(older_than_s=0)

    # Assert
    assert (kept, [d.path.name for d in removed]) == ([], [staged.path.rsplit("/", 1)[-1]])
    assert fsspec.filesystem("memory").find(f"{root}/.staging") == []
    assert store.list_datasets() == []


def test_store_root_url_forms(tmp_path, monkeypatch, root):
    # Setup
    monkeypatch.setenv("SYNTHPIPE_DATA_ROOT", root)

    # Run
    from_env = DatasetStore()
    local_url = DatasetStore(f"file://{tmp_path}")

    # Assert
    assert from_env.is_remote and str(from_env.root) == root
    assert not local_url.is_remote and local_url.root == tmp_path


def test_job_source_dataset_on_an_object_store_loads_the_version(root):
    # Setup
    from job.config import parse_job
    from modalities.real_data import load_real

    _commit(DatasetStore(root))
    job = parse_job(
        {
            "dataset": "adult-copy",
            "source": {"dataset": "adult@latest", "holdout_fraction": 0},
            "generator": {"name": "gaussian_copula"},
            "rows": 10,
            "root": root,
        }
    )

    # Run
    real = load_real(job, root)

    # Assert
    assert real.origin == "dataset:adult@1"
    expected = pd.concat([_frame(0), _frame(10)], ignore_index=True)
    pd.testing.assert_frame_equal(real.train, expected)
