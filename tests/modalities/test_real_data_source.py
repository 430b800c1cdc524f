"""A job whose source is a dataset version reads exactly what the version's manifest lists."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import IntegrityError
from core.image_parts import image_records, image_schema
from datastore import DatasetStore, DatasetVersion
from job.config import parse_job
from modalities.image_files import load_real_images
from modalities.real_data import load_real


def _publish(root, frame: pd.DataFrame, kind: str = "table", schema=None) -> DatasetVersion:
    staged = DatasetStore(root).begin("source")
    staged.write_part(0, frame, schema)
    return staged.commit(
        rows_expected=len(frame),
        lineage={},
        report_json=json.dumps({"passed": True}),
        report_markdown="# Validation\n",
        passed=True,
        failed_checks=[],
        kind=kind,
    )


def _job(root, generator: str = "gaussian_copula", **source):
    return parse_job(
        {
            "dataset": "copy",
            "source": {"dataset": "source@1", "holdout_fraction": 0, **source},
            "generator": {"name": generator},
            "rows": 10,
            "root": str(root),
        }
    )


def _table(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype=float), "y": ["a", "b"] * (rows // 2)})


def test_source_version_reads_its_listed_parts(tmp_path):
    # Setup
    _publish(tmp_path, _table(200))

    # Run
    real = load_real(_job(tmp_path), tmp_path)

    # Assert
    assert real.origin == "dataset:source@1"
    pd.testing.assert_frame_equal(real.train, _table(200))


def test_source_version_refuses_a_stray_part_dropped_in_after_publish(tmp_path):
    # Setup: the case, 50 extra rows beside the 200 the manifest lists
    version = _publish(tmp_path, _table(200))
    stray = version.path / "data" / "part-00001.parquet"
    pq.write_table(pa.Table.from_pandas(_table(50)), stray)

    # Run / Assert
    with pytest.raises(IntegrityError, match=r"does not list: part-00001\.parquet"):
        load_real(_job(tmp_path), tmp_path)


def test_source_version_refuses_a_tampered_part_naming_it(tmp_path):
    # Setup: same schema and size, other values
    version = _publish(tmp_path, _table(200))
    part = version.path / "data" / "part-00000.parquet"
    tampered = _table(200).assign(x=lambda f: f["x"] + 1)
    pq.write_table(pa.Table.from_pandas(tampered, preserve_index=False), part)

    # Run / Assert
    with pytest.raises(IntegrityError, match=r"data/part-00000\.parquet has"):
        load_real(_job(tmp_path), tmp_path)


def _image_version(root) -> DatasetVersion:
    images = pd.DataFrame(
        {"image": [np.full((8, 8, 1), v, dtype=np.uint8) for v in (0, 255)], "label": ["0", "1"]}
    )
    records = image_records(images, label_names=["0", "1"], seed=0, first_index=0)
    return _publish(root, records, "image", image_schema(["0", "1"]))


def test_image_source_version_refuses_a_stray_part(tmp_path, monkeypatch):
    # Setup: a job's image source and `synth validate --real NAME@N` read the same version
    version = _image_version(tmp_path)
    monkeypatch.setenv("SYNTHPIPE_DATA_ROOT", str(tmp_path))
    assert load_real_images("source@1")[0].images.shape == (2, 1, 8, 8)
    stray = version.path / "data" / "part-00001.parquet"
    stray.write_bytes((version.path / "data" / "part-00000.parquet").read_bytes())

    # Run / Assert
    with pytest.raises(IntegrityError, match=r"does not list: part-00001\.parquet"):
        load_real(_job(tmp_path, "vae", image_size=8), tmp_path)
    with pytest.raises(IntegrityError, match=r"does not list: part-00001\.parquet"):
        load_real_images("source@1")
