"""Sequential tables end to end: whole-entity holdout, a tiny `par` job publishing a version
with the sequence checks, and bad sequential sources failing before fitting with nothing
published."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError, ValidationFailedError
from core.sequences import SequenceSpec
from datastore import DatasetStore
from job.config import parse_job
from modalities import get_modality
from pipeline.run import run_job
from sources.config import SourceConfig
from validators.sequences import sequence_checks


def _panel(units: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for unit in range(units):
        level = np.cumsum(rng.normal(size=6))
        rows.append(pd.DataFrame({"unit": f"u{unit}", "t": np.arange(6), "level": level}))
    return pd.concat(rows, ignore_index=True)


def _job(root, path, **source):
    return parse_job(
        {
            "dataset": "panel-seq",
            "source": {"path": str(path), **source},
            "generator": {"name": "par", "params": {"epochs": 2}},
            "rows": 6,
            "shard_rows": 4,
            "seed": 0,
            "root": str(root),
        }
    )


def test_split_holds_out_whole_entities_seeded():
    # Setup
    modality = get_modality("sequence")
    data, _ = modality.load(SourceConfig(builtin="grunfeld"), ".")

    # Run
    train, holdout, held = modality.split(data, 0.2, seed=5)
    _, _, again = modality.split(data, 0.2, seed=5)

    # Assert
    assert held == again
    assert set(train["firm"]).isdisjoint(holdout["firm"])
    assert holdout["firm"].nunique() == 2 and len(holdout) == 40  # 2 of 11 firms, 20 years each


@pytest.mark.slow
def test_a_tiny_par_job_publishes_sequences_with_fresh_keys_across_shards(tmp_path):
    # Setup
    _panel().to_csv(tmp_path / "panel.csv", index=False)
    job = _job(tmp_path / "root", tmp_path / "panel.csv", sequence_key="unit", sequence_index="t")

    # Run: PAR at 2 epochs may fail quality gates; the version is stored either way.
    try:
        version = run_job(job)
    except ValidationFailedError:  # quarantined: stored, never latest
        version = DatasetStore(tmp_path / "root").open("panel-seq@1", allow_quarantined=True)

    # Assert
    frame = version.to_pandas()
    checks = {c["name"]: c for c in version.read_json("validation.json")["checks"]}
    assert sorted(frame["unit"].unique(), key=int) == [str(k) for k in range(6)]
    assert checks["sequence.count"]["passed"]
    assert {"sequence.length_ks", "sequence.lag1_autocorr_error"} <= set(checks)
    assert version.read_json("lineage.json")["generator"]["sequence"]["key"] == "unit"


@pytest.mark.parametrize(
    ("bad", "source", "message"),
    [
        (
            lambda p: pd.concat([p, p.iloc[[3]]]),
            {"sequence_key": "unit", "sequence_index": "t"},
            "order column 't' repeats within an entity",
        ),
        (
            lambda p: p,
            {"sequence_key": "firm", "sequence_index": "t"},
            "has no column(s) ['firm']",
        ),
    ],
)
def test_a_bad_sequential_source_fails_before_fitting_with_nothing_published(
    tmp_path, bad, source, message
):
    # Setup
    bad(_panel()).to_csv(tmp_path / "panel.csv", index=False)
    job = _job(tmp_path / "root", tmp_path / "panel.csv", **source)

    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        run_job(job)
    store = DatasetStore(tmp_path / "root")
    assert store.list_datasets() == [] and store.staging_dirs() == []


def test_sequence_checks_see_autocorrelation_lost_by_shuffling_steps():
    # Setup
    real = _panel(20)
    spec = SequenceSpec("unit", "t")
    rng = np.random.default_rng(1)
    shuffled = real.assign(
        level=real.groupby("unit")["level"].transform(lambda s: rng.permutation(s.to_numpy()))
    )

    # Run
    same = {c.name: c for c in sequence_checks(real, real, spec)}
    lost = {c.name: c for c in sequence_checks(real, shuffled, spec)}

    # Assert
    assert same["sequence.lag1_autocorr_error"].value == pytest.approx(0)
    assert same["sequence.length_ks"].value == 0
    assert lost["sequence.lag1_autocorr_error"].value > 0.3
    assert lost["sequence.step_marginals"].value < same["sequence.step_marginals"].value
    assert 0 <= same["sequence.detection_auc"].value <= 1


def test_sequence_options_are_refused_for_tables_and_required_for_files():
    # Setup
    table = {"source": {"builtin": "fair", "sequence_key": "a"}, "generator": {"name": "ctgan"}}
    file = {"source": {"path": "panel.csv"}, "generator": {"name": "par"}}

    # Run / Assert
    for raw, message in [(table, "apply to sequence generators only"), (file, "sequence_key")]:
        with pytest.raises(ConfigError, match=message):
            parse_job({"dataset": "x", "rows": 2, **raw})


def test_a_builtin_brings_its_sequence_columns_into_the_generator_params():
    # Run
    job = parse_job(
        {
            "dataset": "x",
            "rows": 2,
            "source": {"builtin": "macrodata"},
            "generator": {"name": "par", "params": {"epochs": 3}},
        }
    )

    # Assert: they are learned params, so part of the fitted-model cache key
    assert job.generator_params() == {
        "sequence_key": "decade",
        "sequence_index": "period",
        "context_columns": [],
        "epochs": 3,
    }
