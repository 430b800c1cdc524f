"""Tests for the versioned dataset store: staging, verification, atomic publish, LATEST, reads."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    IntegrityError,
    QuarantinedVersionError,
)
from datastore import (
    DatasetStore,
    DatasetVersion,
    StagedVersion,
    default_root,
    open_dataset,
    read_dataset,
)
from datastore.staging import _release_staging_lock

REPO_ROOT = Path(__file__).resolve().parents[2]


def _frame(start: int = 0, rows: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": list(range(start, start + rows)),
            "name": [f"row-{i}" for i in range(start, start + rows)],
            "score": [i / 2 for i in range(start, start + rows)],
        }
    )


def _commit(
    staged: StagedVersion,
    *,
    rows_expected: int | None = None,
    passed: bool = True,
    failed_checks: list[str] | None = None,
    lineage: dict | None = None,
) -> DatasetVersion:
    failed = failed_checks if failed_checks is not None else ([] if passed else ["ks_age"])
    return staged.commit(
        rows_expected=rows_expected,
        lineage=lineage if lineage is not None else {"generator": "gaussian_copula", "seed": 7},
        report_json=json.dumps({"passed": passed, "failed": failed}),
        report_markdown="# Validation\n",
        passed=passed,
        failed_checks=failed,
    )


def _publish(store: DatasetStore, dataset: str = "adult", **kwargs) -> DatasetVersion:
    staged = store.begin(dataset)
    staged.write_part(0, _frame())
    return _commit(staged, **kwargs)


def _staging_entries(root: Path) -> list[Path]:
    staging = root / ".staging"
    return sorted(staging.iterdir()) if staging.exists() else []


# -- round trip ------------------------------------------------------------------------------


def test_commit_round_trip_readable_with_plain_pandas(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0, 3))
    staged.write_part(1, _frame(3, 2))

    # Run
    version = _commit(staged, rows_expected=5)

    # Assert
    assert version.ref == "adult@1"
    assert version.path == tmp_path / "adult" / "v1"
    assert version.status == "published"
    expected = pd.concat([_frame(0, 3), _frame(3, 2)], ignore_index=True)
    plain = pd.read_parquet(version.path / "data").sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(plain, expected)
    pd.testing.assert_frame_equal(version.to_pandas(), expected)
    assert not Path(staged.path).exists()
    assert _staging_entries(tmp_path) == []


def test_commit_manifest_lists_every_file_with_matching_sha256(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0, 4))
    staged.write_json("model/generator.json", {"name": "ctgan"})

    # Run
    version = _commit(staged, rows_expected=4)

    # Assert
    on_disk = sorted(
        p.relative_to(version.path).as_posix()
        for p in version.path.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    )
    manifest = version.manifest
    assert [entry.path for entry in manifest.files] == on_disk
    for entry in manifest.files:
        content = (version.path / entry.path).read_bytes()
        assert entry.sha256 == hashlib.sha256(content).hexdigest(), entry.path
        assert entry.bytes == len(content)
    assert manifest.file("data/part-00000.parquet").rows == 4
    assert manifest.rows == 4
    assert [(c.name, c.type) for c in manifest.schema_] == [
        ("id", "int64"),
        ("name", "string"),
        ("score", "double"),
    ]
    raw = json.loads((version.path / "manifest.json").read_text())
    assert "schema" in raw and "schema_" not in raw
    assert raw["created_at"].endswith("Z")


def test_commit_writes_lineage_and_reports(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame())
    lineage = {"generator": "ctgan", "config_path": Path("/jobs/adult.yaml"), "seed": 3}

    # Run
    version = _commit(staged, lineage=lineage)

    # Assert
    expected = {"generator": "ctgan", "config_path": "/jobs/adult.yaml", "seed": 3}
    assert version.read_json("lineage.json") == expected
    assert version.manifest.lineage == expected
    assert version.read_json("validation.json") == {"passed": True, "failed": []}
    assert (version.path / "validation.md").read_text() == "# Validation\n"


def test_commit_numbers_versions_consecutively(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)

    # Run
    refs = [_publish(store).ref for _ in range(3)]

    # Assert
    assert refs == ["adult@1", "adult@2", "adult@3"]
    assert [info.version for info in store.list_versions("adult")] == [1, 2, 3]


# -- LATEST and quarantine ---------------------------------------------------------------------


def test_commit_latest_moves_only_on_passed(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)

    # Run
    _publish(store, passed=True)
    quarantined = _publish(store, passed=False, failed_checks=["ks_age", "tv_sex"])

    # Assert
    assert quarantined.version == 2
    assert store.latest_version("adult") == 1
    assert (tmp_path / "adult" / "LATEST").read_text().strip() == "1"
    infos = store.list_versions("adult")
    assert [(i.version, i.status, i.is_latest) for i in infos] == [
        (1, "published", True),
        (2, "quarantined", False),
    ]
    assert store.open("adult").version == 1

    _publish(store, passed=True)
    assert store.latest_version("adult") == 3


def test_open_quarantined_refused_unless_allowed(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store, passed=True)
    _publish(store, passed=False, failed_checks=["ks_age", "tv_sex"])

    # Run / Assert
    with pytest.raises(QuarantinedVersionError, match=re.escape("ks_age, tv_sex")) as info:
        store.open("adult@2")
    assert "allow_quarantined=True" in str(info.value)

    version = store.open("adult@2", allow_quarantined=True)
    assert version.status == "quarantined"
    assert version.manifest.validation.failed_checks == ["ks_age", "tv_sex"]
    assert len(version.to_pandas()) == 3


def test_open_latest_when_only_quarantined(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store, passed=False)

    # Run / Assert
    with pytest.raises(
        DatasetNotFoundError, match=re.escape("only quarantined versions exist (1)")
    ):
        store.open("adult@latest")
    assert store.latest_version("adult") is None
    assert not (tmp_path / "adult" / "LATEST").exists()


# -- refs and names ---------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["adult", "adult@latest", "adult@2", "adult@v2"])
def test_open_ref_forms(tmp_path, ref):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store)
    _publish(store)

    # Run
    version = store.open(ref)

    # Assert
    assert version.ref == "adult@2"


@pytest.mark.parametrize("name", ["Adult", "../escape", "a/b", ".hidden", "", "x" * 101, "a b"])
def test_begin_invalid_name(tmp_path, name):
    # Setup
    store = DatasetStore(tmp_path)

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(f"Invalid dataset name {name!r}")) as info:
        store.begin(name)
    assert "^[a-z0-9][a-z0-9._-]{0,99}$" in str(info.value)
    assert not (tmp_path / ".staging").exists()


def test_open_invalid_version_selector(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store)

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("Invalid dataset ref 'adult@newest'")):
        store.open("adult@newest")


def test_open_unknown_version_lists_existing(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store)
    _publish(store, passed=False)

    # Run / Assert
    with pytest.raises(
        DatasetNotFoundError,
        match=re.escape("Existing versions: 1 (published), 2 (quarantined)"),
    ):
        store.open("adult@7")


def test_open_unknown_dataset_lists_datasets(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store, "adult")
    _publish(store, "census")

    # Run / Assert
    with pytest.raises(DatasetNotFoundError, match=re.escape("Available datasets: adult, census")):
        store.open("adlut")


def test_list_datasets_ignores_staging_and_dirs_without_versions(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store, "census")
    store.begin("pending")  # staged only
    (tmp_path / "empty").mkdir()
    (tmp_path / "halfway" / "v1").mkdir(parents=True)  # no manifest: not a version

    # Run
    names = store.list_datasets()

    # Assert
    assert names == ["census"]


def test_list_versions_counts_only_v_dirs_with_manifest(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store)
    (tmp_path / "adult" / "v9").mkdir()
    (tmp_path / "adult" / "v02").mkdir()
    (tmp_path / "adult" / "notes").mkdir()

    # Run
    versions = store.list_versions("adult")

    # Assert
    assert [info.version for info in versions] == [1]
    assert store.list_versions("unknown") == []


def test_commit_skips_existing_version_dir_without_manifest(tmp_path):
    # Setup: a leftover, incomplete v1 must never be overwritten or merged into
    store = DatasetStore(tmp_path)
    (tmp_path / "adult" / "v1").mkdir(parents=True)
    (tmp_path / "adult" / "v1" / "junk.txt").write_text("x")

    # Run
    version = _publish(store)

    # Assert
    assert version.version == 2
    assert (tmp_path / "adult" / "v1" / "junk.txt").read_text() == "x"


# -- verification failures --------------------------------------------------------------------


def test_commit_row_count_mismatch_publishes_nothing(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0, 3))

    # Run / Assert
    with pytest.raises(IntegrityError, match=re.escape("has 3 rows but rows_expected=4")):
        _commit(staged, rows_expected=4)
    assert store.list_versions("adult") == []
    assert store.list_datasets() == []
    assert not Path(staged.path).exists()


def test_commit_schema_mismatch_between_parts(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0, 2))
    other = _frame(2, 2).assign(score=["high", "low"])
    staged.write_part(1, other)

    # Run / Assert
    with pytest.raises(
        IntegrityError,
        match=re.escape(
            "part data/part-00001.parquet differs from data/part-00000.parquet: "
            "column 'score' has type string, expected double"
        ),
    ):
        _commit(staged)
    assert store.list_versions("adult") == []


def test_commit_unreadable_part_publishes_nothing(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame())
    Path(staged.path, "data", "part-00001.parquet").write_bytes(b"not parquet at all")

    # Run / Assert
    with pytest.raises(
        IntegrityError, match=re.escape("data/part-00001.parquet of adult-")
    ) as info:
        _commit(staged)
    assert "not a readable Parquet file" in str(info.value)
    assert store.list_versions("adult") == []
    assert _staging_entries(tmp_path) == []  # documented: discarded on verification failure


def test_commit_table_without_parts(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")

    # Run / Assert
    with pytest.raises(IntegrityError, match=re.escape("has no Parquet parts in data/")):
        _commit(staged)
    assert store.list_versions("adult") == []


def test_commit_drops_temp_file_left_by_killed_write(tmp_path):
    # Setup: a write killed before os.replace leaves a hidden temp next to the real part
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame())
    leftover = Path(staged.path, "data", f".part-00000.parquet.{'a' * 32}.tmp")
    leftover.write_bytes(b"half a parquet file")

    # Run
    version = _commit(staged, rows_expected=3)

    # Assert
    assert [entry.path for entry in version.manifest.parts] == ["data/part-00000.parquet"]
    assert sorted(p.name for p in (version.path / "data").iterdir()) == ["part-00000.parquet"]


def test_commit_invalid_report_json(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame())

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("report_json for 'adult' is not valid JSON")):
        staged.commit(
            rows_expected=3,
            lineage={},
            report_json="passed: yes",
            report_markdown="",
            passed=True,
            failed_checks=[],
        )
    assert store.list_versions("adult") == []
    assert Path(staged.path).is_dir()  # not a verification failure: left for a retry


def test_commit_lineage_not_json_serialisable(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame())

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("of type object are not JSON serialisable")):
        _commit(staged, lineage={"callback": object()})
    assert store.list_versions("adult") == []


def test_commit_after_abort(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame())
    staged.abort()
    staged.abort()  # idempotent

    # Run / Assert
    with pytest.raises(DataError, match=re.escape(f"Staging directory {staged.path}")):
        _commit(staged)
    assert store.list_versions("adult") == []


# -- write_part ----------------------------------------------------------------------------------


def test_write_part_retry_overwrites(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0, 5))

    # Run: the retried shard produced different rows
    entry = staged.write_part(0, _frame(100, 2))

    # Assert
    data_dir = Path(staged.path, "data")
    assert [p.name for p in data_dir.iterdir()] == ["part-00000.parquet"]
    assert entry.rows == 2
    assert entry.sha256 == hashlib.sha256(staged.part_path(0).read_bytes()).hexdigest()
    assert _commit(staged, rows_expected=2).to_pandas()["id"].tolist() == [100, 101]


def test_write_part_applies_schema(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    schema = pa.schema([("id", pa.int32()), ("name", pa.string()), ("score", pa.float32())])

    # Run
    staged.write_part(0, _frame(), schema=schema)

    # Assert
    assert pq.read_schema(staged.part_path(0)).field("id").type == pa.int32()


def test_write_part_cast_failure_names_column(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    schema = pa.schema([("id", pa.int64()), ("name", pa.int64()), ("score", pa.float64())])

    # Run / Assert
    with pytest.raises(
        DataError, match=re.escape("column 'name' (pandas dtype object) cannot be converted")
    ):
        staged.write_part(0, _frame(), schema=schema)
    assert list(Path(staged.path, "data").iterdir()) == []


def test_write_part_frame_column_missing_from_schema(tmp_path):
    # Setup: pyarrow alone would silently drop "score"
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("not in schema: ['score']")):
        staged.write_part(0, _frame(), schema=schema)


def test_write_part_negative_index(tmp_path):
    # Setup
    staged = DatasetStore(tmp_path).begin("adult")

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("got -1")):
        staged.write_part(-1, _frame())


@pytest.mark.parametrize("relpath", ["manifest.json", "../outside.json", "/abs.json", "data/x"])
def test_write_json_rejects_reserved_or_escaping_paths(tmp_path, relpath):
    # Setup
    staged = DatasetStore(tmp_path).begin("adult")

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(f"Invalid relpath {relpath!r}")):
        staged.write_json(relpath, {})
    assert not (tmp_path / "outside.json").exists()


def test_staged_version_pickles_across_processes(tmp_path):
    # Setup
    staged = DatasetStore(tmp_path).begin("adult")

    # Run
    clone = pickle.loads(pickle.dumps(staged))
    clone.write_part(0, _frame())
    version = _commit(staged, rows_expected=3)

    # Assert
    assert clone == staged
    assert version.manifest.rows == 3


# -- crash and concurrency -------------------------------------------------------------------

_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import pandas as pd
    from datastore import DatasetStore

    staged = DatasetStore(sys.argv[1]).begin("adult")
    staged.write_part(0, pd.DataFrame({"id": [1, 2, 3]}))
    staged.write_part(1, pd.DataFrame({"id": [4]}))
    staged.dir("model")
    os._exit(1)  # killed between writing and commit
    """
)


def test_commit_crash_before_publish_leaves_nothing_visible(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store)  # a previous good version must stay LATEST
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    # Run
    result = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(tmp_path)], env=env, capture_output=True
    )

    # Assert
    assert result.returncode == 1, result.stderr.decode()
    assert [info.version for info in store.list_versions("adult")] == [1]
    assert store.latest_version("adult") == 1
    assert store.list_datasets() == ["adult"]
    leftovers = _staging_entries(tmp_path)
    assert len(leftovers) == 1 and (leftovers[0] / "data" / "part-00001.parquet").is_file()
    assert store.clean_staging(older_than_s=3600) == []  # too recent to be called abandoned
    # The dead writer's lock died with it, so its directory is a leftover at any age.
    assert [d.path for d in store.clean_staging(older_than_s=0)] == leftovers
    assert _staging_entries(tmp_path) == []


def _commit_in_thread(store: DatasetStore, index: int, barrier: threading.Barrier, out: list):
    staged = store.begin("adult")
    staged.write_part(0, _frame(index * 10, 2))
    barrier.wait()  # maximise contention on the version number
    out.append(_commit(staged, passed=index % 3 != 0, lineage={"worker": index}))


def test_commit_concurrent_threads_get_distinct_versions(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    barrier = threading.Barrier(8)
    results: list[DatasetVersion] = []
    threads = [
        threading.Thread(target=_commit_in_thread, args=(store, i, barrier, results))
        for i in range(8)
    ]

    # Run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Assert
    infos = store.list_versions("adult")
    assert sorted(v.version for v in results) == list(range(1, 9))
    assert [info.version for info in infos] == list(range(1, 9))
    workers = sorted(
        store.open(f"adult@{i.version}", allow_quarantined=True).manifest.lineage["worker"]
        for i in infos
    )
    assert workers == list(range(8))
    published = [info.version for info in infos if info.status == "published"]
    assert len(published) == 5
    assert store.latest_version("adult") == max(published)


def _commit_in_process(root: str, index: int, start) -> None:
    store = DatasetStore(root)
    staged = store.begin("adult")
    staged.write_part(0, _frame(index * 10, 2))
    start.wait(30)
    _commit(staged, lineage={"worker": index})


def test_commit_concurrent_processes_get_distinct_versions(tmp_path):
    # Setup: spawn, not fork, so no child inherits pyarrow's thread pools mid-flight
    count = 3
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [
        context.Process(target=_commit_in_process, args=(str(tmp_path), i, start))
        for i in range(count)
    ]
    for process in processes:
        process.start()

    # Run
    try:
        deadline = time.monotonic() + 30
        staging = tmp_path / ".staging"
        while time.monotonic() < deadline:  # release all commits at once when every child staged
            if len(list(staging.glob("*/data/part-00000.parquet"))) == count:
                break
            time.sleep(0.02)
        start.set()
        for process in processes:
            process.join(timeout=60)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()

    # Assert
    assert [p.exitcode for p in processes] == [0] * count
    store = DatasetStore(tmp_path)
    infos = store.list_versions("adult")
    assert [info.version for info in infos] == list(range(1, count + 1))
    assert store.latest_version("adult") == count
    workers = sorted(store.open(f"adult@{i.version}").manifest.lineage["worker"] for i in infos)
    assert workers == list(range(count))
    assert _staging_entries(tmp_path) == []


# -- reading ---------------------------------------------------------------------------------------


def test_verify_detects_tampered_file(tmp_path):
    # Setup
    version = _publish(DatasetStore(tmp_path))
    version.verify()  # intact
    part = version.path / "data" / "part-00000.parquet"
    content = bytearray(part.read_bytes())
    content[len(content) // 2] ^= 0xFF  # same size, different bytes
    part.write_bytes(bytes(content))

    # Run / Assert
    with pytest.raises(
        IntegrityError,
        match=re.escape("data/part-00000.parquet has a different sha256 than the manifest"),
    ):
        version.verify()


def test_verify_detects_missing_file(tmp_path):
    # Setup
    version = _publish(DatasetStore(tmp_path))
    (version.path / "lineage.json").unlink()

    # Run / Assert
    with pytest.raises(IntegrityError, match=re.escape("lineage.json is missing")):
        version.verify()


def test_to_pandas_columns_and_unknown_column(tmp_path):
    # Setup
    version = _publish(DatasetStore(tmp_path))

    # Run
    frame = version.to_pandas(columns=["score", "id"])

    # Assert
    assert list(frame.columns) == ["score", "id"]
    with pytest.raises(ConfigError, match=re.escape("has no column(s) ['nope']")):
        version.to_pandas(columns=["nope"])


def test_iter_batches_respects_batch_size(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    staged = store.begin("adult")
    staged.write_part(0, _frame(0, 5))
    staged.write_part(1, _frame(5, 3))
    version = _commit(staged, rows_expected=8)

    # Run
    batches = list(version.iter_batches(batch_size=2))

    # Assert
    assert all(len(batch) <= 2 for batch in batches)
    assert pd.concat(batches)["id"].tolist() == list(range(8))


def test_open_dataset_and_read_dataset_helpers(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    _publish(store)
    _publish(store, passed=False)

    # Run
    frame = read_dataset("adult", root=tmp_path)
    quarantined = open_dataset("adult@2", root=tmp_path, allow_quarantined=True)

    # Assert
    pd.testing.assert_frame_equal(frame, _frame())
    assert quarantined.status == "quarantined"
    with pytest.raises(QuarantinedVersionError):
        read_dataset("adult@2", root=tmp_path)


def test_default_root_env_override(tmp_path, monkeypatch):
    # Setup
    monkeypatch.setenv("SYNTHPIPE_DATA_ROOT", str(tmp_path / "store"))

    # Run
    store = DatasetStore()

    # Assert
    assert default_root() == tmp_path / "store"
    assert store.root == tmp_path / "store"
    monkeypatch.delenv("SYNTHPIPE_DATA_ROOT")
    assert default_root() == Path("data")


def test_clean_staging_removes_only_old_dirs(tmp_path):
    # Setup
    store = DatasetStore(tmp_path)
    old = store.begin("adult")
    old.write_part(0, _frame())
    _release_staging_lock(old.path)  # what the kernel does when the writer is killed
    fresh = store.begin("adult")
    _release_staging_lock(fresh.path)
    an_hour_ago = time.time() - 3600
    for path in [Path(old.path), *Path(old.path).rglob("*")]:
        os.utime(path, (an_hour_ago, an_hour_ago))

    # Run
    removed = store.clean_staging(older_than_s=600)

    # Assert
    assert [d.path for d in removed] == [Path(old.path)]
    assert not Path(old.path).exists()
    assert Path(fresh.path).is_dir()


def test_clean_staging_never_removes_a_directory_a_live_run_holds(tmp_path):
    # Setup: one run still writing (this process holds its lock), one killed run's leftover
    store = DatasetStore(tmp_path)
    live = store.begin("adult")
    live.write_part(0, _frame())
    dead = store.begin("adult")
    _release_staging_lock(dead.path)  # what the kernel does when the writer is killed

    # Run
    listed = {d.path.name: d.in_use for d in store.staging_dirs()}
    planned = store.clean_staging(older_than_s=0, dry_run=True)
    removed = store.clean_staging(older_than_s=0)

    # Assert: the dry run removed nothing; the live run can still commit
    assert listed == {Path(live.path).name: True, Path(dead.path).name: False}
    assert [d.path for d in planned] == [d.path for d in removed] == [Path(dead.path)]
    assert not Path(dead.path).exists()
    assert _commit(live).ref == "adult@1"
    assert store.staging_dirs() == []


# -- every read goes through the manifest ----------------------------------------------------


def test_read_refuses_a_stray_part_dropped_in_after_publish(tmp_path):
    # Setup
    version = _publish(DatasetStore(tmp_path))
    stray = version.path / "data" / "part-00001.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(100, 50)), stray)

    # Run / Assert
    with pytest.raises(IntegrityError, match=r"does not list: part-00001\.parquet"):
        read_dataset("adult@1", root=tmp_path)


def test_read_refuses_a_tampered_part_naming_it(tmp_path):
    # Setup: same size, different bytes, mtime restored (what a careful attacker would do)
    version = _publish(DatasetStore(tmp_path))
    part = version.path / "data" / "part-00000.parquet"
    assert len(read_dataset("adult@1", root=tmp_path)) == 3  # verified and cached
    stat = part.stat()
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    # Run / Assert
    with pytest.raises(IntegrityError, match=r"part-00000\.parquet has a different sha256"):
        open_dataset("adult@1", root=tmp_path).to_pandas()


def test_read_json_and_text_are_checked_against_the_manifest(tmp_path):
    # Setup
    version = _publish(DatasetStore(tmp_path))
    (version.path / "validation.md").write_text("# Validation\nPASSED (forged)\n")
    (version.path / "extra.json").write_text("{}")

    # Run / Assert
    with pytest.raises(IntegrityError, match=r"validation\.md has"):
        version.read_text("validation.md")
    with pytest.raises(DataError, match=r"has no file 'extra\.json'"):
        version.read_json("extra.json")
    assert version.read_json("manifest.json")["version"] == 1
