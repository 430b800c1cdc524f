"""The job's `resource` (cpu | gpu): defaults by modality, explicit values win, others fail."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from job.config import JobConfig, parse_job

TABLE = {"dataset": "t", "source": {"builtin": "wine"}, "generator": {"name": "gaussian_copula"}}
IMAGE = {"dataset": "i", "source": {"builtin": "digits"}, "generator": {"name": "vae"}}


@pytest.mark.parametrize(("raw", "expected"), [(TABLE, "cpu"), (IMAGE, "gpu")])
def test_resource_defaults_by_modality(raw, expected):
    # Run
    job = parse_job({**raw, "rows": 10})

    # Assert
    assert job.resource == expected
    assert job.model_dump()["resource"] == expected  # recorded in the deployment and lineage


def test_resource_explicit_value_wins():
    # Assert
    assert parse_job({**IMAGE, "rows": 10, "resource": "cpu"}).resource == "cpu"
    assert parse_job({**TABLE, "rows": 10, "resource": "gpu"}).resource == "gpu"


def test_resource_default_survives_a_json_round_trip():
    # Setup: a deployment stores the dumped job; the base model must read it back unchanged.
    job = parse_job({**IMAGE, "rows": 10})

    # Run
    again = JobConfig.model_validate(job.model_dump(mode="json"))

    # Assert
    assert again.resource == "gpu"


def test_resource_unknown_value_names_the_choices():
    # Run / Assert
    with pytest.raises(ConfigError, match=r"resource: Input should be 'cpu' or 'gpu'"):
        parse_job({**TABLE, "rows": 10, "resource": "tpu"})
