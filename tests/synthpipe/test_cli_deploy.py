"""`synth deploy` / `synth serve` argument errors (no Prefect server needed), the server they go
to (configured, else the one `synth server start` recorded); interval parsing."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class _HealthOnly(BaseHTTPRequestHandler):
    """Answers Prefect's health endpoint, and 418 to everything else (no API behind it; not a
    status the Prefect client retries)."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 418)
        self.end_headers()
        self.wfile.write(b"true")

    do_POST = do_PATCH = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorded_server(monkeypatch, tmp_path) -> Iterator[str]:
    """No PREFECT_API_URL; `synth server start`'s record names a live process whose health
    endpoint answers (this test process), as a running recorded server does."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _HealthOnly)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api"
    config = tmp_path / "config"
    config.mkdir()
    (config / "prefect-server.json").write_text(
        json.dumps({"url": url, "pid": os.getpid(), "log": str(tmp_path / "server.log")})
    )
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("SYNTHPIPE_CONFIG_DIR", str(config))
    try:
        with temporary_settings(restore_defaults={PREFECT_API_URL}):
            yield url
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_deploy_without_api_url_goes_to_the_recorded_server(recorded_server, tmp_path):
    # Run: its API answers 418, so the deploy fails there, naming it (not "needs a server").
    result = runner.invoke(app, ["deploy", _job(tmp_path / "job.yaml"), "--cron", "0 3 * * *"])

    # Assert
    assert result.exit_code == 2, result.output
    assert "needs a Prefect server" not in result.output
    assert recorded_server in result.output


def test_serve_without_api_url_serves_on_the_recorded_server(
    recorded_server, tmp_path, monkeypatch
):
    from prefect.settings import get_current_settings

    import flows.deploy

    # Setup: Prefect's `serve` stands in, noting the API it would serve on and what it serves.
    served: dict[str, object] = {}

    def fake_serve(*deployments: object) -> None:
        served["url"] = get_current_settings().api.url
        served["names"] = [d.name for d in deployments]

    monkeypatch.setattr(flows.deploy, "serve", fake_serve)

    # Run
    result = runner.invoke(app, ["serve", _job(tmp_path / "job.yaml"), "--interval", "1h"])

    # Assert
    assert result.exit_code == 0, result.output
    assert served == {"url": recorded_server, "names": ["wine-deploy"]}
    assert not get_current_settings().api.url  # pointed there only while serving


def test_a_configured_api_url_wins_over_the_recorded_server(recorded_server):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deploy import on_server

    # Run
    configured = temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"})
    with configured, on_server() as url:
        pass

    # Assert
    assert url == "http://127.0.0.1:9/api"


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
