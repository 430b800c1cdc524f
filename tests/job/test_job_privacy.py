"""The job's `privacy:` block: parsed, refused by generators without DP-SGD, stated in lineage."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from job.config import parse_job


def _job(**overrides) -> dict:
    job = {
        "dataset": "fair-test",
        "source": {"builtin": "fair"},
        "generator": {"name": "gaussian_copula"},
        "rows": 100,
    }
    job.update(overrides)
    return job


@pytest.mark.parametrize("name", ["gaussian_copula", "ctgan", "tvae", "argn"])
def test_parse_job_privacy_refused_by_generators_without_dp(name):
    # Run / Assert
    with pytest.raises(ConfigError, match=f"generator '{name}' cannot train under differential"):
        parse_job(_job(generator={"name": name}, privacy={"epsilon": 3}))


def test_parse_job_privacy_block_is_validated():
    # Run / Assert
    with pytest.raises(ConfigError, match=r"privacy\.epsilon"):
        parse_job(_job(privacy={"epsilon": -1}))
    with pytest.raises(ConfigError, match="unknown key 'epsilon_total'"):
        parse_job(_job(privacy={"epsilon_total": 3}))


def test_privacy_statement_without_privacy_block():
    # Run
    job = parse_job(_job())

    # Assert
    assert job.privacy is None
    assert job.privacy_statement == "no formal privacy guarantee"
