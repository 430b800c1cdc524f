"""`synth deploy` / `synth serve` argument errors (no Prefect server needed); interval parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from typer.testing import CliRunner

from core.errors import ConfigError
from synthpipe.cli import app

runner = CliRunner()


def _job(path, dataset="wine-deploy"):
    job = {
        "dataset": dataset,
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
    }
    path.write_text(yaml.safe_dump({**job, "rows": 100}))
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "0 3 * *"], "--cron '0 3 * *' is not a valid cron string"),
        (["--cron", "0 25 * * *"], "--cron '0 25 * * *' is not a valid cron string"),
        (["--cron", "0 3 * * *", "--interval", "1h"], "either --cron or --interval, not both"),
        (["--interval", "0"], "--interval '0' is not a positive duration"),
        (["--interval", "5 weeks"], "--interval '5 weeks' is not a positive duration"),
    ],
)
@pytest.mark.parametrize("command", ["deploy", "serve"])
def test_schedule_argument_errors_exit_2_naming_the_option(tmp_path, command, args, message):
    # Run
    result = runner.invoke(app, [command, _job(tmp_path / "job.yaml"), *args])

    # Assert
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("command", ["deploy", "serve"])
def test_without_a_server_says_how_to_start_one(tmp_path, command):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Run: no PREFECT_API_URL, so only the embedded per-process server (no scheduler) would exist.
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = runner.invoke(app, [command, _job(tmp_path / "job.yaml"), "--cron", "0 3 * * *"])

    # Assert
    assert result.exit_code == 2
    assert f"synth {command} needs a Prefect server" in result.output
    assert "prefect server start" in result.output


def test_deploy_invalid_job_exits_2_with_the_problem(tmp_path):
    # Setup
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"dataset": "x", "source": {"builtin": "wine"}, "rows": 5}))

    # Run
    result = runner.invoke(app, ["deploy", str(job)])

    # Assert
    assert result.exit_code == 2
    assert "generator" in result.output


def test_serve_two_jobs_with_one_dataset_name_is_refused(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Run: a server is configured (never contacted: the names are checked first).
    jobs = [_job(tmp_path / "a.yaml", "same"), _job(tmp_path / "b.yaml", "same")]
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = runner.invoke(app, ["serve", *jobs])

    # Assert
    assert result.exit_code == 2
    assert "Each served job needs its own dataset name" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("1.5d", timedelta(hours=36)),
    ],
)
def test_parse_interval_units(text, expected):
    from flows.deploy import parse_interval

    # Assert
    assert parse_interval(text) == expected


def test_schedule_describe_and_prefect_arguments():
    from flows.deploy import Schedule

    # Run
    cron = Schedule.parse("0 3 * * *", None)
    every = Schedule.parse(None, "6h")
    manual = Schedule.parse(None, None)

    # Assert
    assert cron.as_kwargs() == {"cron": "0 3 * * *"}
    assert every.as_kwargs() == {"interval": timedelta(hours=6)}
    assert manual.as_kwargs() == {}
    assert "runs on demand" in manual.describe()
    with pytest.raises(ConfigError, match="not both"):
        Schedule(cron="0 3 * * *", interval=timedelta(hours=1))
