"""A job's `constraints:`: parsed and checked when the job file loads (unsafe expressions,
contradictions, image jobs), checked against the source before any fit, and handed to the
generator as part of its learned config."""

from __future__ import annotations

import pytest

from core.errors import ConfigError, ConstraintError
from job.config import parse_job
from pipeline import steps

LDL_BELOW_TOTAL = {"kind": "inequality", "low": "s2", "high": "s1", "strict": True}


def _job(tmp_path, **overrides) -> dict:
    job = {
        "dataset": "diabetes-test",
        "source": {"builtin": "diabetes"},
        "generator": {"name": "gaussian_copula"},
        "rows": 50,
        "root": str(tmp_path),
        "constraints": [LDL_BELOW_TOTAL],
    }
    return job | overrides


def test_job_constraints_reach_the_generator_config_and_its_model_key(tmp_path):
    # Run
    job = parse_job(_job(tmp_path))
    plain = parse_job(_job(tmp_path, constraints=[]))

    # Assert
    assert job.constraints[0].describe() == "inequality s2 < s1"
    assert job.generator_params()["constraints"] == [
        {"kind": "inequality", "low": "s2", "high": "s1", "strict": True}
    ]
    assert "constraints" not in plain.generator_params()


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        ([{"kind": "predicate", "expression": "__import__('os')"}], "may be called"),
        ([{"kind": "formula", "column": "s4", "expression": "s1.__class__"}], "Attribute"),
        ([LDL_BELOW_TOTAL, {"kind": "inequality", "low": "s1", "high": "s2"}], "contradictory"),
        ([{"kind": "between", "column": "s1"}], "constraints.0"),
    ],
)
def test_bad_constraints_fail_when_the_job_loads(tmp_path, constraints, message):
    # Run / Assert
    with pytest.raises(ConfigError, match=message):
        parse_job(_job(tmp_path, constraints=constraints))


def test_constraints_on_an_image_job_are_refused(tmp_path):
    # Setup
    image = {"builtin": "digits", "image_size": 8}

    # Run / Assert
    with pytest.raises(ConfigError, match="constraints apply to table jobs only"):
        parse_job(_job(tmp_path, source=image, generator={"name": "vae"}))


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({"kind": "inequality", "low": "s1", "high": "s2"}, r"breaks constraint .* in \d+ of"),
        ({"kind": "range", "column": "ldl", "low": 0}, r"column\(s\) \['ldl'\]"),
    ],
)
def test_a_source_breaking_a_constraint_fails_at_load_before_any_fit(tmp_path, constraint, message):
    # Setup
    job = parse_job(_job(tmp_path, constraints=[constraint]))

    # Run / Assert
    with pytest.raises(ConstraintError, match=message):
        steps.load(job, str(tmp_path))
